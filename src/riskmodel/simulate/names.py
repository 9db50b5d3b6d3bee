"""Members' identities in the simulated county, hashed from who they are, never drawn from the
county's random stream: adding them changes no other value of the panel.

One source for the panel's `head_name` and the national export's 姓名 (export.person_tables): a
member is keyed by household, birth year, sex and rank among such members of the household; the
household's family name is its head's.
"""

from __future__ import annotations

import numpy as np

SURNAMES = np.array(list("黄农李韦陆梁赵莫蒙卢覃罗马凌潘林刘周闭许"))
GIVEN = np.array(list("文明华秀英金玉春桂兰海云芳丽勇军国志建平忠德光永红美凤"))


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a well-spread hash of integer keys."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def member_key(hh_index: np.ndarray, birth_year: np.ndarray, female: np.ndarray) -> np.ndarray:
    """Household index, birth year and sex in one integer (members sharing all three are told
    apart by their rank, `member_hash`)."""
    key = np.asarray(hh_index).astype(np.int64) * 4096 + np.asarray(birth_year).astype(np.int64)
    return key * 2 + np.asarray(female).astype(np.int64)


def member_hash(key: np.ndarray, rank: np.ndarray | int) -> np.ndarray:
    """A member's hash from its `member_key` and its rank among the household's members with
    that key (0 for the first listed, the head first); stable across years."""
    return mix(np.asarray(key, dtype=np.int64) * 8 + np.asarray(rank, dtype=np.int64))


def surnames(hsh: np.ndarray) -> np.ndarray:
    """The family name a member's hash gives (the household takes its head's)."""
    return SURNAMES[((hsh >> np.uint64(24)) % np.uint64(len(SURNAMES))).astype(np.intp)]


def given_names(hsh: np.ndarray) -> np.ndarray:
    """Two-character given names from a member's hash."""
    n = np.uint64(len(GIVEN))
    first = ((hsh >> np.uint64(32)) % n).astype(np.intp)
    second = ((hsh >> np.uint64(48)) % n).astype(np.intp)
    return np.char.add(GIVEN[first], GIVEN[second])


def head_names(age: np.ndarray, female: np.ndarray, hh_index: np.ndarray, year: int) -> np.ndarray:
    """The head's (member slot 0) full name in `year` for households `hh_index`, given their
    members' ages and sexes (rows of hh_index); None where a household has no member."""
    a = np.asarray(age)
    hsh = member_hash(member_key(hh_index, year - a, female), 0)
    names = np.char.add(surnames(hsh), given_names(hsh)).astype(object)
    names[a < 0] = None
    return names
