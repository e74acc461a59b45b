"""Reading data files into canonical columns: the real benchmark files, and errors that name file, line and column.

Real-data tests read the folder named by SIMTEXT_DATA_DIR and are skipped when it is unset.
Their expected row counts are the published sizes of each file, and the training-set
counts are recounted here with the standard library, independently of the readers.
"""

from __future__ import annotations

import csv
import json
import logging
from collections import defaultdict
from pathlib import Path

import datasets
import pytest
from datasets import Dataset

from simtext.data import DataError, NliTriplets, Source, load_source, load_training_data, read_table
from simtext.training.recipe import load_recipe

RECIPES = Path(__file__).resolve().parent.parent / "recipes"

STSB = ["sentence1", "sentence2", "score"]
SICK = ["pair_ID", "sentence_A", "sentence_B", "relatedness_score", "entailment_judgment"]
MSRP = ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]
NLI = ["premise", "hypothesis", "label"]
TRECQA = ["qtext", "label", "atext"]
QRELS = ["query-id", "corpus-id", "score"]

REAL_FILES = [
    ("stsb/train.csv", 5749, STSB),
    ("stsb/dev.csv", 1500, STSB),
    ("stsb/test.csv", 1379, STSB),
    ("sick/train.tsv", 4500, SICK),
    ("sick/trial.tsv", 500, SICK),
    ("msrp/train.tsv", 3576, MSRP),
    ("msrp/val.tsv", 500, MSRP),
    ("msrp/test.tsv", 1725, MSRP),
    ("paws/dev.tsv", 8000, ["id", "sentence1", "sentence2", "label"]),
    ("nli/snli-dev.jsonl", 9842, NLI),
    ("nli/mnli-dev-matched.jsonl", 9815, NLI),
    ("trecqa/train.csv", 4718, TRECQA),
    ("trecqa/dev.csv", 1148, TRECQA),
    ("trecqa/test.csv", 1517, TRECQA),
    ("scifact/corpus.jsonl", 5183, ["_id", "title", "text"]),
    ("scifact/queries.jsonl", 1109, ["_id", "text"]),
    ("scifact/qrels/test.tsv", 339, QRELS),
    ("scifact/qrels/train.tsv", 919, QRELS),
]


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def pairs(path: str, **options) -> Source:
    """Return a source mapping sentence1 and sentence2 to anchor and positive."""
    return Source(path=path, columns={"anchor": "sentence1", "positive": "sentence2"}, **options)


def scored(path: str, **options) -> Source:
    return Source(path=path, columns={"sentence1": "sentence1", "sentence2": "sentence2", "score": "score"}, **options)


# The real benchmark files


@pytest.mark.real_data
@pytest.mark.parametrize(("name", "rows", "columns"), REAL_FILES, ids=[name for name, _, _ in REAL_FILES])
def test_real_file_rows_and_columns(data_dir, name, rows, columns):
    table = read_table(data_dir / name)

    assert table.columns == columns
    assert len(table) == rows


@pytest.mark.real_data
def test_stsb_quoted_commas(data_dir):
    table = read_table(data_dir / "stsb" / "train.csv")
    scores = [float(row["score"]) for row in table.rows]

    assert any("," in row["sentence1"] for row in table.rows)
    assert any("," in row["sentence2"] for row in table.rows)
    assert min(scores) >= 0
    assert max(scores) <= 5
    # No field spans lines, so the last row sits on the last of 5,750 physical lines.
    assert table.lines[-1] == 5750


@pytest.mark.real_data
def test_sick_labels_and_scores(data_dir):
    table = read_table(data_dir / "sick" / "train.tsv")
    relatedness = [float(row["relatedness_score"]) for row in table.rows]

    assert {row["entailment_judgment"] for row in table.rows} == {"ENTAILMENT", "NEUTRAL", "CONTRADICTION"}
    assert min(relatedness) >= 1
    assert max(relatedness) <= 5


@pytest.mark.real_data
def test_msrp_bom_and_raw_quotes(data_dir):
    table = read_table(data_dir / "msrp" / "train.tsv")

    assert (data_dir / "msrp" / "train.tsv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert table.columns[0] == "Quality"
    assert "Quality" in table.rows[0]
    assert table.rows[0]["#1 String"] == (
        'Amrozi accused his brother, whom he called "the witness", of deliberately distorting his evidence.'
    )
    assert {row["Quality"] for row in table.rows} == {"0", "1"}


@pytest.mark.real_data
def test_paws_labels(data_dir):
    table = read_table(data_dir / "paws" / "dev.tsv")

    assert {row["label"] for row in table.rows} == {"0", "1"}


@pytest.mark.real_data
@pytest.mark.parametrize("name", ["nli/snli-dev.jsonl", "nli/mnli-dev-matched.jsonl"])
def test_nli_labels(data_dir, name):
    table = read_table(data_dir / name)

    assert {row["label"] for row in table.rows} <= {"entailment", "neutral", "contradiction", "-"}
    assert table.lines[:2] == [1, 2]


@pytest.mark.real_data
def test_trecqa_labels_and_masks(data_dir):
    table = read_table(data_dir / "trecqa" / "test.csv")

    assert {row["label"] for row in table.rows} == {"0", "1"}
    assert any("<num>" in row["atext"] for row in table.rows)


@pytest.mark.real_data
def test_scifact_beir_layout(data_dir):
    corpus = read_table(data_dir / "scifact" / "corpus.jsonl")
    queries = read_table(data_dir / "scifact" / "queries.jsonl")
    qrels = read_table(data_dir / "scifact" / "qrels" / "test.tsv")
    corpus_ids = {row["_id"] for row in corpus.rows}
    query_ids = {row["_id"] for row in queries.rows}

    assert all(isinstance(row["text"], str) for row in corpus.rows)
    assert len(corpus_ids) == 5183
    assert len({row["query-id"] for row in qrels.rows}) == 300
    assert {row["query-id"] for row in qrels.rows} <= query_ids
    assert {row["corpus-id"] for row in qrels.rows} <= corpus_ids


def recount_nli_triplets(path: Path) -> list[tuple[str, str, str]]:
    """Return (premise, entailed, first contradicted) triplets, computed with plain Python."""
    entailed: dict[str, list[str]] = defaultdict(list)
    contradicted: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["label"] == "entailment":
            entailed[row["premise"]].append(row["hypothesis"])
        elif row["label"] == "contradiction" and row["premise"] not in contradicted:
            contradicted[row["premise"]] = row["hypothesis"]
    return [
        (premise, hypothesis, contradicted[premise])
        for premise, hypotheses in entailed.items()
        if premise in contradicted
        for hypothesis in hypotheses
    ]


@pytest.mark.real_data
def test_paraphrase_recipe_source_counts(data_dir):
    recipe = load_recipe(RECIPES / "paraphrase-mnrl.yaml")
    stsb, msrp, sick = recipe.data.train["paraphrases"]

    with open(data_dir / "stsb" / "train.csv", newline="", encoding="utf-8") as handle:
        stsb_expected = sum(float(row["score"]) >= 4 for row in csv.DictReader(handle))
    msrp_lines = (data_dir / "msrp" / "train.tsv").read_text(encoding="utf-8-sig").splitlines()[1:]
    sick_lines = (data_dir / "sick" / "train.tsv").read_text(encoding="utf-8").splitlines()[1:]

    assert stsb_expected == 1406
    assert len(load_source(stsb, data_dir)) == 1406
    assert sum(line.split("\t")[0] == "1" for line in msrp_lines) == 2407
    assert len(load_source(msrp, data_dir)) == 2407
    assert sum(line.split("\t")[4] == "ENTAILMENT" for line in sick_lines) == 1299
    assert len(load_source(sick, data_dir)) == 1299


@pytest.mark.real_data
def test_paraphrase_recipe_nli_triplets(data_dir):
    recipe = load_recipe(RECIPES / "paraphrase-mnrl.yaml")
    snli, mnli = recipe.data.train["nli"]

    snli_rows = load_source(snli, data_dir)
    mnli_rows = load_source(mnli, data_dir)
    snli_expected = recount_nli_triplets(data_dir / "nli" / "snli-dev.jsonl")

    assert len(snli_expected) == 3172
    assert len(snli_rows) == 3172
    assert len(recount_nli_triplets(data_dir / "nli" / "mnli-dev-matched.jsonl")) == 3243
    assert len(mnli_rows) == 3243
    assert list(zip(snli_rows["anchor"], snli_rows["positive"], snli_rows["negative"])) == snli_expected


@pytest.mark.real_data
def test_paraphrase_recipe_training_data(data_dir):
    recipe = load_recipe(RECIPES / "paraphrase-mnrl.yaml")

    datasets = load_training_data(recipe.data.train, data_dir)

    assert len(datasets["paraphrases"]) == 1406 + 2407 + 1299
    assert len(datasets["nli"]) == 3172 + 3243
    assert datasets["paraphrases"].column_names == ["anchor", "positive"]
    assert datasets["nli"].column_names == ["anchor", "positive", "negative"]


# Formats


def test_csv_quoted_fields(tmp_path):
    path = write(tmp_path, "pairs.csv", 'sentence1,sentence2\n"one, two","say ""hi"""\n')

    table = read_table(path)

    assert table.rows == [{"sentence1": "one, two", "sentence2": 'say "hi"'}]


def test_tsv_keeps_raw_quotes(tmp_path):
    path = write(tmp_path, "pairs.tsv", 'sentence1\tsentence2\n"quoted" start\tend "\n')

    table = read_table(path)

    assert table.rows == [{"sentence1": '"quoted" start', "sentence2": 'end "'}]


def test_tsv_quoting_on_request(tmp_path):
    path = write(tmp_path, "pairs.tsv", 'sentence1\tsentence2\n"a\tb"\tc\n')

    table = read_table(path, quoting=True)

    assert table.rows == [{"sentence1": "a\tb", "sentence2": "c"}]


@pytest.mark.parametrize("name", ["pairs.csv", "pairs.tsv"])
def test_byte_order_mark_stripped(tmp_path, name):
    delimiter = "," if name.endswith(".csv") else "\t"
    path = write(tmp_path, name, f"\ufeffsentence1{delimiter}sentence2\na{delimiter}b\n")

    table = read_table(path)

    assert table.columns == ["sentence1", "sentence2"]
    assert table.rows == [{"sentence1": "a", "sentence2": "b"}]


def test_jsonl_blank_lines_skipped(tmp_path):
    path = write(tmp_path, "pairs.jsonl", '{"a": "x"}\n\n{"a": "y", "b": "z"}\n')

    table = read_table(path)

    assert table.columns == ["a", "b"]
    assert table.rows == [{"a": "x"}, {"a": "y", "b": "z"}]
    assert table.lines == [1, 3]


def test_format_option_overrides_suffix(tmp_path):
    path = write(tmp_path, "pairs.txt", "sentence1\tsentence2\na\tb\n")

    table = read_table(path, format="tsv")

    assert table.rows == [{"sentence1": "a", "sentence2": "b"}]


def test_parquet_round_trip(tmp_path):
    path = tmp_path / "pairs.parquet"
    Dataset.from_dict({"sentence1": ["a", "b"], "sentence2": ["c", "d"], "score": [4.5, 1]}).to_parquet(str(path))

    table = read_table(path)
    dataset = load_source(scored("pairs.parquet", filter=["score >= 4"]), tmp_path)

    assert table.columns == ["sentence1", "sentence2", "score"]
    assert table.rows == [
        {"sentence1": "a", "sentence2": "c", "score": 4.5},
        {"sentence1": "b", "sentence2": "d", "score": 1.0},
    ]
    assert dataset.to_list() == [{"sentence1": "a", "sentence2": "c", "score": 4.5}]


def test_parquet_error_names_row(tmp_path):
    path = tmp_path / "pairs.parquet"
    Dataset.from_dict({"sentence1": ["a", "b"], "sentence2": ["c", " "]}).to_parquet(str(path))

    with pytest.raises(DataError) as caught:
        load_source(pairs("pairs.parquet"), tmp_path)

    assert str(caught.value).startswith(f"{path}, row 2, column 'sentence2': ")
    assert "expected a non-empty text for 'positive'" in str(caught.value)


def test_unknown_format_suffix(tmp_path):
    path = write(tmp_path, "pairs.xlsx", "")

    with pytest.raises(ValueError) as caught:
        read_table(path)
    message = str(caught.value)
    assert str(path) in message
    assert "suffix '.xlsx'" in message
    assert ".csv, .json, .jsonl, .parquet, .tsv" in message


def test_unknown_format_option(tmp_path):
    path = write(tmp_path, "pairs.csv", "a\n")

    with pytest.raises(ValueError) as caught:
        read_table(path, format="xml")

    assert "Unknown data format 'xml'" in str(caught.value)
    assert "csv, tsv, jsonl, parquet" in str(caught.value)


# Missing files and columns


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError) as caught:
        read_table(tmp_path / "absent.csv")

    assert str(tmp_path / "absent.csv") in str(caught.value)


def test_missing_source_file(tmp_path):
    with pytest.raises(FileNotFoundError) as caught:
        load_source(pairs("stsb/absent.csv"), tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "stsb" / "absent.csv") in message
    assert "'stsb/absent.csv' in the recipe" in message
    assert "SIMTEXT_DATA_DIR" in message


def test_relative_path_without_data_dir():
    with pytest.raises(FileNotFoundError) as caught:
        load_source(pairs("pairs.csv"), None)

    assert "no data directory is set" in str(caught.value)
    assert "SIMTEXT_DATA_DIR" in str(caught.value)


def test_missing_column_lists_columns(tmp_path):
    path = write(tmp_path, "pairs.csv", "sentence1,text2,score\na,b,1\n")

    with pytest.raises(DataError) as caught:
        load_source(pairs("pairs.csv"), tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{path}, line 1: ")
    assert "column 'sentence2' not found" in message
    assert "the columns are 'sentence1', 'text2', 'score'" in message
    assert "Fix the column mapping or filter in the recipe" in message


def test_missing_column_names_recipe_field(tmp_path):
    write(tmp_path, "first.csv", "sentence1,sentence2,score\na,b,1\n")
    write(tmp_path, "second.csv", "sentence1,sentence_2,score\nc,d,2\n")
    train = {"judged": [scored("first.csv"), scored("second.csv")]}

    with pytest.raises(DataError) as caught:
        load_training_data(train, tmp_path)
    message = str(caught.value)
    assert "column 'sentence2' not found" in message
    assert "Did you mean 'sentence_2'?" in message
    assert "Fix data.train.judged[1].columns.sentence2 in the recipe" in message


def test_missing_file_names_recipe_field(tmp_path):
    write(tmp_path, "first.csv", "sentence1,sentence2,score\na,b,1\n")
    train = {"judged": [scored("first.csv"), scored("absent.csv")]}

    with pytest.raises(FileNotFoundError) as caught:
        load_training_data(train, tmp_path)

    assert "Check data.train.judged[1].path ('absent.csv')" in str(caught.value)


def test_missing_filter_column(tmp_path):
    write(tmp_path, "pairs.csv", "sentence1,sentence2\na,b\n")

    with pytest.raises(DataError) as caught:
        load_source(pairs("pairs.csv", filter=["score >= 4"]), tmp_path)

    assert "column 'score' not found" in str(caught.value)


def test_jsonl_row_missing_field(tmp_path):
    path = write(tmp_path, "pairs.jsonl", '{"sentence1": "a", "sentence2": "b"}\n{"sentence1": "c"}\n')

    with pytest.raises(DataError) as caught:
        load_source(pairs("pairs.jsonl"), tmp_path)

    assert str(caught.value).startswith(f"{path}, line 2, column 'sentence2': ")
    assert "this row has no such field" in str(caught.value)


# Malformed rows


@pytest.mark.parametrize(("name", "delimiter"), [("pairs.csv", ","), ("pairs.tsv", "\t")])
def test_wrong_field_count(tmp_path, name, delimiter):
    text = "\n".join(delimiter.join(fields) for fields in [STSB, ["a", "b", "1"], ["c", "d", "2", "extra"]]) + "\n"
    path = write(tmp_path, name, text)

    with pytest.raises(DataError) as caught:
        read_table(path)
    message = str(caught.value)
    assert message.startswith(f"{path}, line 3: ")
    assert "expected 3 fields (sentence1, sentence2, score) but found 4" in message
    assert "check the delimiter and quoting" in message


def test_broken_json_line(tmp_path):
    path = write(tmp_path, "nli.jsonl", '{"premise": "a", "label": "-"}\n{"premise": "b", "label": \n')

    with pytest.raises(DataError) as caught:
        read_table(path)
    message = str(caught.value)
    assert message.startswith(f"{path}, line 2: ")
    assert "invalid JSON" in message
    assert "expected one JSON object per line" in message


def test_json_line_not_object(tmp_path):
    path = write(tmp_path, "nli.jsonl", '["a", "b"]\n')

    with pytest.raises(DataError) as caught:
        read_table(path)

    assert str(caught.value).startswith(f"{path}, line 1: ")
    assert "expected a JSON object per line, found list" in str(caught.value)


def test_empty_csv_file(tmp_path):
    path = write(tmp_path, "pairs.csv", "")

    with pytest.raises(DataError) as caught:
        read_table(path)

    assert "the file is empty; expected a header line" in str(caught.value)


def test_duplicate_header_column(tmp_path):
    path = write(tmp_path, "pairs.csv", "text,text\na,b\n")

    with pytest.raises(DataError) as caught:
        read_table(path)

    assert str(caught.value).startswith(f"{path}, line 1: ")
    assert "names column 'text' twice" in str(caught.value)


def test_line_after_multiline_field(tmp_path):
    # Rows start on lines 2, 4 and 5; the quoted fields span lines 2-3 and 5-7.
    text = 'sentence1,sentence2\n"first\nsecond",x\nok,fine\n"three\nphysical\nlines",y\nbad,row,extra\n'
    path = write(tmp_path, "pairs.csv", text)

    with pytest.raises(DataError) as caught:
        read_table(path)

    assert str(caught.value).startswith(f"{path}, line 8: ")


def test_line_of_multiline_bad_row(tmp_path):
    path = write(tmp_path, "pairs.csv", 'sentence1,sentence2\nok,fine\n"spans\ntwo lines",x,extra\n')

    with pytest.raises(DataError) as caught:
        read_table(path)

    assert str(caught.value).startswith(f"{path}, line 3: ")


def test_lines_of_multiline_rows(tmp_path):
    text = 'sentence1,sentence2\n"first\nsecond",x\n\nok,fine\n"three\nphysical\nlines",y\n'
    path = write(tmp_path, "pairs.csv", text)

    table = read_table(path)

    assert table.lines == [2, 5, 6]
    assert table.rows[2]["sentence1"] == "three\nphysical\nlines"


def test_empty_text_after_multiline_field(tmp_path):
    text = 'sentence1,sentence2\r\n"first\r\nsecond",x\r\nok,fine\r\n,y\r\n'
    path = write(tmp_path, "pairs.csv", text)

    with pytest.raises(DataError) as caught:
        load_source(pairs("pairs.csv"), tmp_path)

    assert str(caught.value).startswith(f"{path}, line 5, column 'sentence1': ")


# Row validation


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_text(tmp_path, value):
    path = write(tmp_path, "pairs.tsv", f"sentence1\tsentence2\na\tb\nc\t{value}\n")

    with pytest.raises(DataError) as caught:
        load_source(pairs("pairs.tsv"), tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{path}, line 3, column 'sentence2': ")
    assert f"expected a non-empty text for 'positive', found {value!r}" in message


def test_non_string_text(tmp_path):
    path = write(tmp_path, "pairs.jsonl", '{"sentence1": "a", "sentence2": 7}\n')

    with pytest.raises(DataError) as caught:
        load_source(pairs("pairs.jsonl"), tmp_path)

    assert str(caught.value).startswith(f"{path}, line 1, column 'sentence2': ")
    assert "expected a non-empty text for 'positive', found 7" in str(caught.value)


@pytest.mark.parametrize("value", ["n/a", "", "nan"])
def test_non_numeric_score(tmp_path, value):
    path = write(tmp_path, "scores.csv", f"sentence1,sentence2,score\na,b,4.5\nc,d,{value}\n")

    with pytest.raises(DataError) as caught:
        load_source(scored("scores.csv"), tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{path}, line 3, column 'score': ")
    assert f"expected a numeric score, found {value!r}" in message


def test_scored_values(tmp_path):
    write(tmp_path, "scores.csv", "sentence1,sentence2,score\na,b,4.5\nc,d, 3 \n")

    dataset = load_source(scored("scores.csv"), tmp_path)

    assert dataset["score"] == [4.5, 3.0]


def labelled(path: str) -> Source:
    return Source(path=path, columns={"sentence1": "s1", "sentence2": "s2", "label": "label"})


def test_integer_labels(tmp_path):
    write(tmp_path, "labels.tsv", "s1\ts2\tlabel\na\tb\t1\nc\td\t0\n")

    dataset = load_source(labelled("labels.tsv"), tmp_path)

    assert dataset["label"] == [1, 0]


def test_text_labels_stripped(tmp_path):
    write(tmp_path, "labels.tsv", "s1\ts2\tlabel\na\tb\t ENTAILMENT \nc\td\tNEUTRAL\n")

    dataset = load_source(labelled("labels.tsv"), tmp_path)

    assert dataset["label"] == ["ENTAILMENT", "NEUTRAL"]


def test_mixed_label_types(tmp_path):
    path = write(tmp_path, "labels.tsv", "s1\ts2\tlabel\na\tb\t1\nc\td\t0\ne\tf\t-\n")

    with pytest.raises(DataError) as caught:
        load_source(labelled("labels.tsv"), tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{path}, line 4, column 'label': ")
    assert "expected a label of the same type as 1 (line 2), found '-'" in message


def test_mixed_labels_filtered_out(tmp_path):
    write(tmp_path, "labels.tsv", "s1\ts2\tlabel\na\tb\t1\nc\td\t0\ne\tf\t-\n")
    source = labelled("labels.tsv")
    source.filter = ["label != -"]

    dataset = load_source(source, tmp_path)

    assert dataset["label"] == [1, 0]


def test_empty_label(tmp_path):
    path = write(tmp_path, "labels.tsv", "s1\ts2\tlabel\na\tb\t \n")

    with pytest.raises(DataError) as caught:
        load_source(labelled("labels.tsv"), tmp_path)

    assert str(caught.value).startswith(f"{path}, line 2, column 'label': ")
    assert "expected a label, found an empty field" in str(caught.value)


def test_non_canonical_columns(tmp_path):
    write(tmp_path, "pairs.csv", "sentence1,sentence2\na,b\n")
    source = Source(path="pairs.csv", columns={"query": "sentence1", "positive": "sentence2"})

    with pytest.raises(ValueError) as caught:
        load_source(source, tmp_path)

    assert "columns ['positive', 'query'] are not a canonical set" in str(caught.value)
    assert "anchor, positive[, negative, negative_2, ...]" in str(caught.value)


def test_hard_negative_columns(tmp_path):
    write(tmp_path, "triplets.csv", "q,d,n1,n2\na,b,c,d2\n")
    source = Source(
        path="triplets.csv", columns={"anchor": "q", "positive": "d", "negative": "n1", "negative_2": "n2"}
    )

    dataset = load_source(source, tmp_path)

    assert dataset.to_list() == [{"anchor": "a", "positive": "b", "negative": "c", "negative_2": "d2"}]


# Filters


def test_filter_keeps_matching_rows(tmp_path):
    write(tmp_path, "scores.csv", "sentence1,sentence2,score\na,b,4.0\nc,d,3.9\ne,f,5\n")

    dataset = load_source(pairs("scores.csv", filter=["score >= 4"]), tmp_path)

    assert dataset["anchor"] == ["a", "e"]


def test_filter_string_accepted(tmp_path):
    write(tmp_path, "scores.csv", "sentence1,sentence2,score\na,b,4.0\nc,d,3.9\n")

    dataset = load_source(pairs("scores.csv", filter="score >= 4"), tmp_path)

    assert dataset["anchor"] == ["a"]


def test_filter_equality_numeric_and_text(tmp_path):
    text = "sentence1\tsentence2\tQuality\tjudgment\na\tb\t1\tENTAILMENT\nc\td\t1.0\tNEUTRAL\ne\tf\t0\tENTAILMENT\n"
    write(tmp_path, "pairs.tsv", text)

    numeric = load_source(pairs("pairs.tsv", filter=["Quality == 1"]), tmp_path)
    textual = load_source(pairs("pairs.tsv", filter=["judgment == 'ENTAILMENT'"]), tmp_path)
    both = load_source(pairs("pairs.tsv", filter=["Quality == 1", "judgment != NEUTRAL"]), tmp_path)

    assert numeric["anchor"] == ["a", "c"]
    assert textual["anchor"] == ["a", "e"]
    assert both["anchor"] == ["a"]


def test_filter_on_non_numeric_field(tmp_path):
    path = write(tmp_path, "scores.csv", "sentence1,sentence2,score\na,b,4.5\nc,d,high\n")

    with pytest.raises(DataError) as caught:
        load_source(pairs("scores.csv", filter=["score >= 4"]), tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{path}, line 3, column 'score': ")
    assert "filter 'score >= 4' needs a number, found 'high'" in message


def test_filter_non_numeric_value(tmp_path):
    write(tmp_path, "scores.csv", "sentence1,sentence2,score\na,b,4.5\n")

    with pytest.raises(ValueError) as caught:
        load_source(pairs("scores.csv", filter=["score >= high"]), tmp_path)
    message = str(caught.value)
    assert message.startswith("scores.csv: invalid filter 'score >= high'")
    assert "'high' is not a number" in message


@pytest.mark.parametrize("text", ["score", "score >=", "score ~ 4"])
def test_filter_invalid_syntax(tmp_path, text):
    write(tmp_path, "scores.csv", "sentence1,sentence2,score\na,b,4.5\n")

    with pytest.raises(ValueError) as caught:
        load_source(pairs("scores.csv", filter=[text]), tmp_path)

    assert f"invalid filter {text!r}; expected 'COLUMN OP VALUE'" in str(caught.value)


# NLI triplets

NLI_ROWS = [
    {"premise": "A dog runs.", "hypothesis": "An animal moves.", "label": "entailment"},
    {"premise": "A dog runs.", "hypothesis": "A dog sleeps.", "label": "contradiction"},
    {"premise": "A dog runs.", "hypothesis": "A dog is fast.", "label": "neutral"},
    {"premise": "A dog runs.", "hypothesis": "A cat sits.", "label": "contradiction"},
    {"premise": "A dog runs.", "hypothesis": "A dog is outside.", "label": "entailment"},
    {"premise": "Two men talk.", "hypothesis": "People talk.", "label": "entailment"},
    {"premise": "A girl sings.", "hypothesis": "A girl makes noise.", "label": "-"},
    {"premise": "A girl sings.", "hypothesis": "Nobody sings.", "label": "-"},
    {"premise": "A girl sings.", "hypothesis": "A girl is silent.", "label": "contradiction"},
]


def write_nli(directory: Path, rows: list[dict]) -> Path:
    return write(directory, "nli.jsonl", "".join(json.dumps(row) + "\n" for row in rows))


def test_nli_triplets_built(tmp_path):
    write_nli(tmp_path, NLI_ROWS)

    dataset = load_source(Source(path="nli.jsonl", nli_triplets=NliTriplets()), tmp_path)

    # Each entailed hypothesis is paired with the premise's first contradiction.
    assert dataset.to_list() == [
        {"anchor": "A dog runs.", "positive": "An animal moves.", "negative": "A dog sleeps."},
        {"anchor": "A dog runs.", "positive": "A dog is outside.", "negative": "A dog sleeps."},
    ]


def test_nli_skipped_rows_logged(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="simtext.data.sources")
    write_nli(tmp_path, NLI_ROWS)

    load_source(Source(path="nli.jsonl", nli_triplets=NliTriplets()), tmp_path)
    messages = [record.getMessage() for record in caplog.records if record.name == "simtext.data.sources"]

    assert "Built 2 NLI triplets" in messages[0]
    assert "1 entailments without a contradiction" in messages[0]
    assert "2 rows without a gold label skipped" in messages[0]
    assert all("Built" not in message for message in messages[1:])


def test_nli_custom_columns_and_labels(tmp_path):
    rows = [
        {"s1": "A dog runs.", "s2": "An animal moves.", "gold": 0},
        {"s1": "A dog runs.", "s2": "A dog sleeps.", "gold": 2},
        {"s1": "A dog runs.", "s2": "A dog is fast.", "gold": -1},
    ]
    write_nli(tmp_path, rows)
    spec = NliTriplets(premise="s1", hypothesis="s2", label="gold", entailment="0", contradiction="2", no_gold=["-1"])

    dataset = load_source(Source(path="nli.jsonl", nli_triplets=spec), tmp_path)

    assert dataset.to_list() == [{"anchor": "A dog runs.", "positive": "An animal moves.", "negative": "A dog sleeps."}]


def test_nli_without_triplets_empty(tmp_path):
    write_nli(tmp_path, NLI_ROWS[5:])

    dataset = load_source(Source(path="nli.jsonl", nli_triplets=NliTriplets()), tmp_path)

    assert len(dataset) == 0
    assert dataset.column_names == ["anchor", "positive", "negative"]


def test_nli_empty_premise(tmp_path):
    path = write_nli(tmp_path, NLI_ROWS[:2] + [{"premise": "", "hypothesis": "x", "label": "entailment"}])

    with pytest.raises(DataError) as caught:
        load_source(Source(path="nli.jsonl", nli_triplets=NliTriplets()), tmp_path)

    assert str(caught.value).startswith(f"{path}, line 3, column 'premise': ")


def test_nli_filter_applies(tmp_path):
    rows = [dict(row, genre="fiction" if row["premise"] == "A dog runs." else "news") for row in NLI_ROWS]
    write_nli(tmp_path, rows)
    source = Source(path="nli.jsonl", nli_triplets=NliTriplets(), filter=["genre == news"])

    dataset = load_source(source, tmp_path)

    assert len(dataset) == 0


# Sources and training datasets


@pytest.mark.parametrize(
    "source",
    [Source(columns={"anchor": "a", "positive": "b"}), Source(path="pairs.csv", hub="org/pairs")],
    ids=["neither", "both"],
)
def test_source_needs_path_or_hub(tmp_path, source):
    with pytest.raises(ValueError) as caught:
        load_source(source, tmp_path)

    assert "needs exactly one of `path`" in str(caught.value)
    assert "`hub`" in str(caught.value)


def test_training_data_concatenates_sources(tmp_path):
    write(tmp_path, "one.csv", "sentence1,sentence2\na,b\nc,d\n")
    write(tmp_path, "two.tsv", "sentence1\tsentence2\ne\tf\n")

    datasets = load_training_data({"pairs": [pairs("one.csv"), pairs("two.tsv")]}, tmp_path)

    assert datasets["pairs"]["anchor"] == ["a", "c", "e"]


def test_training_data_columns_differ(tmp_path):
    write(tmp_path, "pairs.csv", "sentence1,sentence2\na,b\n")
    write_nli(tmp_path, NLI_ROWS)
    sources = [pairs("pairs.csv"), Source(path="nli.jsonl", nli_triplets=NliTriplets())]

    with pytest.raises(ValueError) as caught:
        load_training_data({"mixed": sources}, tmp_path)
    message = str(caught.value)
    assert message.startswith("data.train.mixed: source nli.jsonl has columns")
    assert "put them in separate datasets" in message


def test_training_data_all_filtered(tmp_path):
    write(tmp_path, "scores.csv", "sentence1,sentence2,score\na,b,1\n")

    with pytest.raises(ValueError) as caught:
        load_training_data({"pairs": [pairs("scores.csv", filter=["score >= 4"])]}, tmp_path)

    assert "data.train.pairs: no rows left after filtering" in str(caught.value)


def test_training_data_no_sources(tmp_path):
    with pytest.raises(ValueError) as caught:
        load_training_data({"pairs": []}, tmp_path)

    assert "data.train.pairs: the dataset has no sources" in str(caught.value)


def test_nli_unused_labels_counted(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="simtext.data.sources")
    write_nli(tmp_path, NLI_ROWS)

    load_source(Source(path="nli.jsonl", nli_triplets=NliTriplets()), tmp_path)

    unused = [record.getMessage() for record in caplog.records if "Unused NLI labels" in record.getMessage()]
    assert len(unused) == 1
    assert "'neutral': 1" in unused[0]


def test_nli_with_columns_rejected(tmp_path):
    write_nli(tmp_path, NLI_ROWS)
    source = Source(path="nli.jsonl", columns={"anchor": "premise"}, nli_triplets=NliTriplets())
    with pytest.raises(ValueError, match="either `columns` or `nli_triplets`"):
        load_source(source, tmp_path)


def test_non_canonical_columns_name_source(tmp_path):
    (tmp_path / "pairs.csv").write_text("a,b\nx,y\n")
    source = Source(path="pairs.csv", columns={"query": "a", "positive": "b"})
    with pytest.raises(ValueError, match=r"^pairs\.csv: columns .* are not a canonical set"):
        load_source(source, tmp_path)


def hub_folder_source(tmp_path, monkeypatch, csv_text: str) -> Source:
    """Write `csv_text` as train.csv of a dataset folder and return a `hub` source for it.

    `datasets.load_dataset` takes a folder of data files the way it takes a Hub id, without network.
    """
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    folder = tmp_path / "pairs-dataset"
    folder.mkdir()
    (folder / "train.csv").write_text(csv_text)
    return Source(hub=str(folder), split="train", columns={"anchor": "question", "positive": "answer"})


def test_hub_source_reads_local_dataset_folder(tmp_path, monkeypatch):
    source = hub_folder_source(tmp_path, monkeypatch, "question,answer\nwhat is a cat,a small animal\nwhere is paris,in france\n")

    dataset = load_source(source, None)

    assert dataset.to_list() == [
        {"anchor": "what is a cat", "positive": "a small animal"},
        {"anchor": "where is paris", "positive": "in france"},
    ]


def test_hub_source_bad_row_names_row(tmp_path, monkeypatch):
    source = hub_folder_source(tmp_path, monkeypatch, "question,answer\nwhat is a cat,a small animal\nwhere is paris,\n")

    with pytest.raises(DataError, match=r"row 2, column 'answer'"):
        load_source(source, None)


def test_hub_source_missing_dataset_fails(tmp_path):
    source = Source(hub=str(tmp_path / "absent-dataset"), split="train", columns={"anchor": "a", "positive": "b"})
    with pytest.raises(DataError, match="loading failed"):
        load_source(source, None)


def test_tab_separated_csv_hints_format(tmp_path):
    (tmp_path / "pairs.csv").write_text("text_a\ttext_b\nx\ty\n")
    source = Source(path="pairs.csv", columns={"anchor": "text_a", "positive": "text_b"})
    with pytest.raises(DataError, match="another delimiter than its suffix implies; set `format`"):
        load_source(source, tmp_path)
