from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.dataset import DatasetError, dataset_digest, load_dataset, write_dataset
from tests.evals.factories import issue, write_invented


def test_an_invented_dataset_loads_and_writes_back_the_same(tmp_path: Path) -> None:
    issues = load_dataset(write_invented(tmp_path / "a.jsonl"))
    assert [i.number for i in issues] == [101, 102, 103, 104, 105, 106, 107]
    write_dataset(tmp_path / "b.jsonl", issues)
    assert load_dataset(tmp_path / "b.jsonl") == issues
    assert dataset_digest(tmp_path / "b.jsonl") == dataset_digest(tmp_path / "b.jsonl")


def _line(**fields: object) -> str:
    base = {"number": 3, "url": "https://github.com/pytorch/pytorch/issues/3", "title": "t", "labels_visible": True}
    return json.dumps({**base, **fields})


@pytest.mark.parametrize(
    ("second_line", "message"),
    [
        ("{not json", r":2: not a dataset issue: .*Invalid JSON"),
        (_line(labels_visible="perhaps"), r":2: not a dataset issue: labels_visible"),
        (_line(extra=1), r":2: not a dataset issue: extra: Extra inputs"),
        (_line(url="https://example.com/x"), r":2: url 'https://example.com/x' is not a GitHub issue URL"),
        (_line(number=4), r":2: number 4 does not match url"),
        (_line(number=1, url="https://github.com/pytorch/pytorch/issues/1"), r":2: issue 1 already appeared on line 1"),
    ],
)
def test_a_bad_line_is_refused_with_its_line_number_and_the_problem(
    tmp_path: Path, second_line: str, message: str
) -> None:
    path = tmp_path / "d.jsonl"
    first = issue(1).model_dump(mode="json")
    path.write_text(json.dumps(first) + "\n" + second_line + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=message):
        load_dataset(path)


def test_an_empty_or_missing_dataset_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="holds no issues"):
        load_dataset(tmp_path / "empty.jsonl")
    with pytest.raises(DatasetError, match="cannot read dataset"):
        load_dataset(tmp_path / "absent.jsonl")
