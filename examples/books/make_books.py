"""Writes a deterministic corpus of book-length texts: ``examples/books/corpus/book-NNNNN.md``.

Each book is made from seeded sentence templates (the same ``--seed`` gives the same
bytes on every machine): a title, then chapters of paragraphs, about ``--size`` bytes in
all. ``python examples/books/make_books.py --count 20`` writes 20 books of ~200 KB.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

HERE = Path(__file__).parent

PEOPLE = [
    "the miller", "the ferryman", "old Agnes", "the young clerk", "Captain Morrow", "the weaver",
    "a travelling tinker", "the schoolmistress", "the harbour master", "Tom Ashby", "the widow Hale",
    "the blacksmith", "a stranger in grey", "the vicar", "Elsie Wren", "the lamplighter",
]  # fmt: skip
ACTIONS = [
    "walked slowly along", "looked out over", "remembered", "argued about", "repaired",
    "sold the last of", "dreamed of", "counted", "wrote a letter about", "lost the key to",
    "found a map of", "sang quietly beside", "waited all night by", "painted", "measured",
]  # fmt: skip
THINGS = [
    "the mill", "the river", "the old bridge", "the harbour", "the orchard", "the lighthouse",
    "the granary", "the north road", "the market square", "the chapel", "the salt marsh",
    "the quarry", "the weir", "the ferry", "the library", "the signal box",
]  # fmt: skip
TIMES = [
    "at dawn", "before the storm", "in the long winter", "after the harvest", "on market day",
    "when the tide turned", "late in the evening", "during the flood", "that summer", "at midnight",
]  # fmt: skip
MOODS = [
    "Nobody spoke of it again.", "The wind rose over the fields.", "It was the last time.",
    "Rain fell steadily on the roofs.", "Somewhere a dog barked.", "The bells rang twice.",
    "Everything seemed to hold its breath.", "The lamps were lit one by one.",
]  # fmt: skip
TEMPLATES = [
    "{Person} {action} {thing} {time}.",
    "{Time}, {person} {action} {thing}, and {person2} {action2} {thing2}.",
    "It was said that {person} {action} {thing} {time}.",
    "{Person} never forgot how {person2} {action} {thing}.",
    "Because {person} {action} {thing}, {person2} {action2} {thing2} {time}.",
    "{mood}",
]


def sentence(rng: random.Random) -> str:
    person, person2 = rng.sample(PEOPLE, 2)
    action, action2 = rng.sample(ACTIONS, 2)
    thing, thing2 = rng.sample(THINGS, 2)
    time = rng.choice(TIMES)
    return rng.choice(TEMPLATES).format(
        person=person, Person=person[0].upper() + person[1:], person2=person2,
        action=action, action2=action2, thing=thing, thing2=thing2,
        time=time, Time=time[0].upper() + time[1:], mood=rng.choice(MOODS),
    )  # fmt: skip


def book(number: int, size: int, seed: int) -> str:
    rng = random.Random(f"{seed}:{number}")  # one stream per book: any book can be made alone
    title = (
        f"The {rng.choice(['Chronicle', 'Letters', 'Winter', 'Book', 'Voyage'])} of {rng.choice(THINGS)[4:]}"
    )
    parts = [f"# {title.title()}\n"]
    length, chapter = len(parts[0]), 0
    while length < size:
        chapter += 1
        heading = f"\n## Chapter {chapter}\n"
        parts.append(heading)
        length += len(heading)
        for _ in range(rng.randint(12, 24)):
            if length >= size:
                break
            paragraph = " ".join(sentence(rng) for _ in range(rng.randint(3, 8))) + "\n"
            parts.append("\n" + paragraph)
            length += len(paragraph) + 1
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20, help="how many books (default 20)")
    parser.add_argument("--size", type=int, default=200_000, help="bytes per book, about (default 200000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=HERE / "corpus", help="folder to write")
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    for number in range(1, args.count + 1):
        path = args.output / f"book-{number:05d}.md"
        path.write_text(book(number, args.size, args.seed), encoding="utf-8")
    print(f"{args.count} books in {args.output}")


if __name__ == "__main__":
    main()
