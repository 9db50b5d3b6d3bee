"""Retrain from a run config: `python training/train.py [--config ...] [--data DIR]`.

A thin door: the same job as `riskmodel train`, all logic in the library.
"""

from riskmodel.cli import app

if __name__ == "__main__":
    app(["train", *__import__("sys").argv[1:]], prog_name="train")
