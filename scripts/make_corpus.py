"""Write the shipped corpus examples/tales.txt (plastix.lm.corpus: generated tales whose names,
numbers and places are bound and recalled within each paragraph). Deterministic: the same seed
gives the same bytes, which tests/test_lm_text.py checks.

    python scripts/make_corpus.py                 # examples/tales.txt
    python scripts/make_corpus.py --paragraphs 2000 --seed 1 --out big.txt
"""

import argparse
from pathlib import Path

from plastix.lm.corpus import SHIPPED_PARAGRAPHS, SHIPPED_SEED, make_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paragraphs", type=int, default=SHIPPED_PARAGRAPHS)
    parser.add_argument("--seed", type=int, default=SHIPPED_SEED)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "examples" / "tales.txt"))
    args = parser.parse_args()
    text, recalls = make_corpus(args.paragraphs, args.seed)
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: {len(text):,} characters, {args.paragraphs} paragraphs, {len(recalls):,} recalled tokens")


if __name__ == "__main__":
    main()
