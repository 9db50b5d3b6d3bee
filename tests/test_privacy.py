"""Names as cadres may see them: the surname, a star per hidden character, the last character."""

import numpy as np
import pandas as pd
import pytest

from riskmodel.privacy import mask_name, mask_names


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("张三明", "张*明"),
        ("欧阳小明", "欧**明"),
        ("爱新觉罗溥仪", "爱****仪"),
        (" 黄 文华 ", "黄*华"),  # spaces are not characters of the name
        ("韦", "*"),
        ("", None),
        ("   ", None),
        (None, None),
        (np.nan, None),
        (pd.NA, None),
    ],
)
def test_mask_name(name, masked):
    assert mask_name(name) == masked


@pytest.mark.parametrize("name", ["张三", "张三明", "欧阳小明", "李明华美"])
def test_masked_name_keeps_the_length_and_hides_every_middle_character(name):
    masked = mask_name(name)

    assert len(masked) == len(name)
    assert masked[0] == name[0] and set(masked[1:-1]) <= {"*"}
    assert name[1:-1] not in masked if len(name) > 2 else masked[1] == "*"


def test_mask_names_masks_each_value_and_keeps_missing_ones_missing():
    out = mask_names(pd.Series(["农金华", None, "陆英", np.nan, "覃秀英"], dtype=object))

    assert out.tolist() == ["农*华", None, "陆*", None, "覃*英"]
