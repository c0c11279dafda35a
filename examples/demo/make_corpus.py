"""Make the demo corpus: a few hundred small documents, nested, some non-ASCII, a few broken.

Deterministic: the same files, byte for byte, every time. ``python make_corpus.py [FOLDER]``
(default: ``corpus/`` beside this file); an existing corpus is left as it is.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

WORDS = [
    "mill",
    "grain",
    "stone",
    "water",
    "wheel",
    "flour",
    "river",
    "harvest",
    "barley",
    "wheat",
    "miller",
    "sack",
    "cart",
    "road",
    "village",
    "market",
    "bread",
    "oven",
    "baker",
    "field",
    "season",
    "rain",
    "wind",
    "storm",
    "ledger",
    "record",
    "archive",
    "letter",
    "book",
    "page",
    "chapter",
    "index",
    "catalogue",
    "library",
    "shelf",
    "reader",
    "scribe",
    "ink",
    "paper",
]
SECTIONS = ("library/fiction", "library/science", "archive/2023", "archive/2024/letters", "notes")


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 16))]
    return " ".join(words).capitalize() + "."


def paragraph(rng: random.Random) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(2, 6)))


def make(root: Path, count: int = 300) -> None:
    rng = random.Random(1848)
    for index in range(count):
        folder = root / SECTIONS[index % len(SECTIONS)]
        folder.mkdir(parents=True, exist_ok=True)
        kind = index % 3
        if kind == 0:
            text = "\n\n".join(paragraph(rng) for _ in range(rng.randint(1, 5)))
            (folder / f"doc-{index:03d}.txt").write_text(text + "\n", encoding="utf-8")
        elif kind == 1:
            body = "\n\n".join(paragraph(rng) for _ in range(rng.randint(1, 4)))
            (folder / f"note-{index:03d}.md").write_text(f"# Note {index}\n\n{body}\n", encoding="utf-8")
        else:
            record = {"id": index, "title": sentence(rng), "text": paragraph(rng)}
            (folder / f"record-{index:03d}.json").write_text(json.dumps(record), encoding="utf-8")
    notes = root / "notes"
    (notes / "café-menu.txt").write_text("Crème brûlée, pain au levain, café noir.\n", encoding="utf-8")
    (notes / "日本語のメモ.txt").write_text("水車小屋で小麦を挽く。\n", encoding="utf-8")
    (notes / "latin-1.txt").write_bytes("Smörgåsbord à la façon du meunier.\n".encode("latin-1"))
    broken = root / "broken"
    broken.mkdir(exist_ok=True)
    (broken / "garbage.txt").write_bytes(bytes(rng.randrange(256) for _ in range(2048)))
    (broken / "empty.txt").write_bytes(b"")
    (broken / "truncated.json").write_text('{"id": 1, "text": "the mill sto', encoding="utf-8")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "corpus"
    if target.exists():
        print(f"corpus already at {target}")
    else:
        make(target)
        print(f"made {sum(1 for p in target.rglob('*') if p.is_file())} files under {target}")
