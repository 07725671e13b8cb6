"""sam-eval: scoring on known answers, the second option order, and a whole run on a tiny valset."""
import json

import pytest
import torch

from model.evaluation.answering import Item, mcq_parts, reorder
from model.evaluation.charts import chart_rows
from model.evaluation.cli import main
from model.evaluation.report import markdown
from model.evaluation.scoring import by_class, score
from model.evaluation.stats import compare, intervals, mcnemar_p
from model.evaluation.valset import evaluate_valset
from model.metrics import ClassNames, micro_prf, wilson_interval

NAMES = ClassNames.from_table({"dog": ["bark"], "door": ["door slam"], "piano": [], "rain": [], "speech": []})
SCENES = {"s1": {"events": [{"label": "dog"}, {"label": "door"}], "background": None, "type": "scene"},
          "q1": {"events": [], "background": {"label": "rain"}, "type": "quiet"},
          "q2": {"events": [], "background": None, "type": "quiet"}}
ITEMS = [
    Item("s1", "Which of these sounds can you hear? A) piano B) dog C) rain D) speech", "B) dog", "mcq"),
    Item("s1", "Do you hear a door?", "yes", "tf"),
    Item("s1", "What animal do you hear?", "dog", "open"),
    Item("s1", "How many sound events are there?", "2", "count"),
    Item("s1", "Describe what you hear.", "dog at 0.1-0.5 s, door at 1.0-1.2 s", "description"),
    Item("q1", "Describe what you hear.", "only rain in the background, otherwise quiet", "description"),
    Item("q2", "Describe what you hear.", "quiet, nothing happens", "description"),
    Item("s1", "What did you just hear?", "door", "recent"),
    Item("q1", "What happened in the last ten seconds?", "nothing, only rain in the background", "feed"),
    Item("q2", "What happened in the last ten seconds?", "nothing, it has been quiet", "feed"),
]


def test_reorder_moves_the_answer_with_its_option():
    again = reorder(ITEMS[0])
    stem, options = mcq_parts(again.question)
    assert options == ["speech", "rain", "dog", "piano"] and again.answer == "C) dog" and again.variant == "reordered"
    assert stem == "Which of these sounds can you hear?"


def test_gold_answers_score_perfectly_and_wrong_ones_do_not():
    items = ITEMS + [reorder(ITEMS[0])]
    perfect = score(items, [it.answer for it in items], NAMES, SCENES)
    accuracies = {k: v for k, v in perfect.items() if k.endswith("_accuracy")}
    assert accuracies and all(v == 1.0 for v in accuracies.values())
    assert perfect["mcq_order_agreement"] == 1.0 and perfect["silence_false_alarm_rate"] == 0.0
    assert perfect["description_class_precision"] == perfect["description_class_recall"] == 1.0
    assert perfect["silence_false_alarm_rate_feed"] == 0.0
    wrong = ["A) piano", "no", "door", "3", "piano at 1.0-2.0 s", "a dog barks", "door slam", "dog",
             "rain, then a dog", "speech", "D) piano"]
    bad = score(items, wrong, NAMES, SCENES)
    assert all(v == 0.0 for k, v in bad.items() if k.endswith("_accuracy"))
    assert bad["silence_false_alarm_rate"] == 1.0  # both quiet scenes were said to hold a sound
    assert bad["silence_false_alarm_rate_gated"] == 1.0  # and no gate stopped either
    assert bad["silence_false_alarm_rate_feed"] == 1.0  # the feed named a sound in both (rain alone would be right)
    gated = score(items, wrong, NAMES, SCENES, gated=frozenset({"q2"}))  # the energy gate calls q2 quiet itself
    assert gated["silence_false_alarm_rate"] == 1.0 and gated["silence_false_alarm_rate_gated"] == 0.5
    assert gated["silence_false_alarm_rate_feed"] == 0.5 and gated["silence_false_alarm_rate_feed_ungated"] == 1.0
    only_rain = score(items[-3:-2], ["rain"], NAMES, SCENES)  # the background named, nothing added: no false alarm
    assert only_rain["silence_false_alarm_rate_feed"] == 0.0
    assert bad["mcq_order_agreement"] == 1.0  # piano both times: consistent, and wrong
    assert "| mcq_accuracy | 0.000 |" in markdown(bad, "x")



def test_a_misnamed_background_is_a_wrong_class_not_an_event():
    names = ClassNames.from_table({"dog": [], "rain": [], "waves": []})
    items = [ITEMS[5], ITEMS[8]]  # the quiet scene over rain: its description and the feed's question
    calm = score(items, ["only waves in the background, otherwise quiet", "nothing, only waves in the background"],
                 names, SCENES)
    assert calm["silence_false_alarm_rate"] == 0.0 and calm["silence_false_alarm_rate_feed"] == 0.0
    assert calm["silence_false_class_rate"] == 1.0 and calm["silence_false_class_rate_feed"] == 1.0
    busy = score(items, ["waves in the background; dog at 1.0-2.0 s", "waves, dog"], names, SCENES)
    assert busy["silence_false_alarm_rate"] == 1.0 and busy["silence_false_alarm_rate_feed"] == 1.0
    rain = score(items, ["rain at 0.0-9.0 s", "rain"], names, SCENES)  # the background, called an event: it is there
    assert rain["silence_false_alarm_rate"] == 0.0 and rain["silence_false_class_rate"] == 0.0


def test_event_precision_and_recall_leave_the_background_out():
    names = ClassNames.from_table({"dog": [], "door": [], "rain": [], "waves": []})
    scenes = {"s": {"events": [{"label": "dog"}], "background": {"label": "rain"}, "type": "scene"}}
    items = [Item("s", "Describe what you hear.", "rain in the background; dog at 1.0-2.0 s", "description")]
    res = score(items, ["waves in the background; dog at 1.0-2.0 s, door at 3.0-3.5 s"], names, scenes)
    assert res["description_event_precision"] == 0.5 and res["description_event_recall"] == 1.0  # dog; door invented
    # every class against events and background: dog right; waves and door wrong; rain missed
    assert res["description_class_precision"] == pytest.approx(1 / 3) and res["description_class_recall"] == 0.5


def test_descriptions_inside_digital_silence_are_scored_apart():
    plain = Item("s1", "Describe what you hear.", "dog at 0.1-0.5 s, door at 1.0-1.2 s", "description")
    margins = Item("s1#margins", plain.question, plain.answer, "description", "margins")
    names = ClassNames.from_table({"dog": ["bark"], "door": ["door slam"], "wood block": []})
    res = score([plain, margins], ["dog at 2.1-2.5 s, door at 3.0-3.2 s", "dog, door, wood block"], names, SCENES)
    assert res["description_class_precision"] == 1.0 and res["description_false_sound_rate"] == 0.0
    assert res["description_false_sound_rate_margins"] == 1.0 and res["description_scenes_margins"] == 1
    assert res["description_class_precision_margins"] == pytest.approx(2 / 3)
    assert res["description_class_recall_margins"] == 1.0
    assert res["description_margins_n"] == 1 and "description_false_sound_rate_margins_ci95" in intervals(res)


def test_each_proportion_gets_an_interval_over_its_own_item_count():
    res = {"mcq_accuracy": 0.5, "mcq_n": 10, "tf_accuracy": 0.5, "tf_n": 1000, "streaming_n": 53,
           "streaming_30min_accuracy": 20 / 53, "silence_false_alarm_rate_gated": 0.2, "silence_scenes": 55,
           "description_class_precision": 0.5, "items": 1000}
    ci = intervals(res)
    assert set(ci) == {"mcq_accuracy_ci95", "tf_accuracy_ci95", "streaming_30min_accuracy_ci95",
                       "silence_false_alarm_rate_gated_ci95"}  # precision is over mentions, not items: none
    for key, (lo, hi) in ci.items():
        assert lo < res[key.removesuffix("_ci95")] < hi
    width = {k: hi - lo for k, (lo, hi) in ci.items()}
    assert width["tf_accuracy_ci95"] < width["mcq_accuracy_ci95"] / 5  # same value, 100x the items
    assert "| mcq_accuracy | 0.500 | 0.237-0.763 |" in markdown({**res, **ci}, "x")


def test_mcnemar_p_is_the_exact_binomial_of_the_discordant_items():
    assert mcnemar_p(0, 10) == pytest.approx(2 / 1024)  # ten items only one got right, all the same way
    assert mcnemar_p(5, 5) == 1.0 and mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(2, 8) == pytest.approx(2 * (1 + 10 + 45) / 1024)
    assert mcnemar_p(8, 2) == mcnemar_p(2, 8)


def test_compare_pairs_two_reports_item_by_item(tmp_path, capsys):
    items = ITEMS + [reorder(ITEMS[0])]
    gold = [it.answer for it in items]
    worse = ["A) piano" if it.kind == "mcq" else g for it, g in zip(items, gold)]
    first, second = score(items, worse, NAMES, SCENES), score(items, gold, NAMES, SCENES)
    assert first["correct"]["mcq_accuracy"] == "0" and second["correct"]["mcq_accuracy"] == "1"
    table = compare({"valset": first}, {"valset": second})
    assert "| mcq_accuracy | 0.000 | 1.000 | +1.000 | 0 | 1 | 1 |" in table  # one item: not evidence
    assert "| tf_accuracy | 1.000 | 1.000 | +0.000 | 0 | 0 | 1 |" in table
    for name, rep in (("a", first), ("b", second)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(json.dumps({"valset": rep}))
    assert main(["--compare", str(tmp_path / "a"), str(tmp_path / "b" / "report.json")]) == 0
    assert "| mcq_reordered_accuracy | 0.000 | 1.000 |" in capsys.readouterr().out
    short = {**second, "correct": {**second["correct"], "mcq_accuracy": "11"}}
    with pytest.raises(ValueError, match="not of the same valset"):
        compare(first, short)
    with pytest.raises(ValueError, match="per-item results"):
        compare({"mcq_accuracy": 0.5}, second)
    with pytest.raises(SystemExit, match="no such report"):
        main(["--compare", str(tmp_path / "a"), str(tmp_path / "missing.json")])




def test_per_class_counts_add_up_to_the_micro_figures():
    said = [{"dog", "car"}, set(), {"speech", "dog"}, {"rain"}]
    there = [{"dog"}, {"door"}, {"speech"}, {"rain", "dog"}]
    counts = by_class(said, there)
    assert counts == {"car": [0, 0, 1], "dog": [1, 2, 1], "door": [0, 1, 0], "rain": [1, 1, 0], "speech": [1, 1, 0]}
    prf = micro_prf(said, there)
    hits, gold, extra = (sum(row[i] for row in counts.values()) for i in range(3))
    assert hits / gold == pytest.approx(prf.recall) and hits / (hits + extra) == pytest.approx(prf.precision)


def test_chart_draws_each_reports_accuracy_per_kind_with_its_interval(tmp_path):
    first = {"valset": {"correct": {"x_accuracy": "1100", "y_accuracy": "10", "description_margins_accuracy": "0"}}}
    second = {"correct": {"x_accuracy": "0111", "y_accuracy": "11", "z_accuracy": "1", "description_margins_accuracy": "1"}}
    rows = chart_rows({"a": first, "b": second})
    assert list(rows) == ["x_accuracy", "y_accuracy", "all items"]  # kinds both have; re-hearings not pooled
    assert rows["x_accuracy"]["a"][0] == 0.5 and rows["x_accuracy"]["b"][0] == 0.75
    assert rows["all items"]["a"][0] == pytest.approx(3 / 6) and rows["all items"]["b"][0] == pytest.approx(5 / 6)
    assert rows["y_accuracy"]["b"][1:] == pytest.approx(wilson_interval(2, 2))
    assert all(lo <= acc <= hi for r in rows.values() for acc, lo, hi in r.values())
    for name, rep in (("a", first), ("b", {"valset": second})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(json.dumps(rep))
    out = tmp_path / "charts"
    assert main(["--chart", f"plain={tmp_path / 'a'}", str(tmp_path / "b" / "report.json"), "--out", str(out)]) == 0
    png = (out / "chart.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    (tmp_path / "old.json").write_text(json.dumps({"valset": {"mcq_accuracy": 0.5}}))
    with pytest.raises(SystemExit, match="old: no per-item results"):
        main(["--chart", str(tmp_path / "a"), f"old={tmp_path / 'old.json'}", "--out", str(out)])


def test_compare_pools_every_item_but_the_re_hearings():
    first = {"correct": {"x_accuracy": "1100", "y_accuracy": "10", "description_margins_accuracy": "0"}}
    second = {"correct": {"x_accuracy": "0111", "y_accuracy": "11", "description_margins_accuracy": "1"}}
    last = compare(first, second).strip().splitlines()[-1]
    # pooled: 110010 against 011111; one item only the first got right, three only the second
    assert last == f"| all items, each once | 0.500 | 0.833 | +0.333 | 1 | 3 | {mcnemar_p(1, 3):.3g} |"
    rescored = {"correct": {**first["correct"], "mcq_cloze_accuracy": "1"}}  # a second scoring, not an item
    assert compare(rescored, second).strip().splitlines()[-1] == last


def test_cloze_scores_match_token_by_token_scoring_and_choose_by_the_stem(tmp_path):
    from model.config import SAMConfig
    from model.evaluation.answering import cloze_choice, cloze_scores, is_absent_stem
    from model.generate import answer_logits
    from model.prompt import answer_ids, prompt_ids
    from model.sam import SAM
    from model.tokenizer import Tokenizer

    torch.manual_seed(0)
    tok = Tokenizer.train(["a dog barks", "a car horn", "quiet", "what sound do you hear?"] * 20, vocab_size=290)
    model = SAM(SAMConfig.from_name("sam-tiny"), tok).eval()
    state = model.hear(torch.randn(16000) * 0.1).lm
    options = ["dog", "car horn", "quiet", "dog barks"]
    fast = cloze_scores(model, state, options)

    def slow(answer):  # the prompt pushed, then one token at a time: the path generation takes
        logits, s = model.lm(torch.tensor([prompt_ids(tok, "What sound do you hear?")]), state=state)
        nxt, total = logits[:, -1], 0.0
        for t in answer_ids(tok, answer):
            total += torch.log_softmax(answer_logits(model.lm, tok, nxt.float()), -1)[0, t].item()
            nxt, s = model.lm.step(torch.tensor([t]), state=s)
        return total

    with torch.inference_mode():
        assert fast == pytest.approx([slow(o) for o in options], abs=1e-3)
        assert cloze_scores(model, state, options[:1]) == pytest.approx(fast[:1], abs=1e-4)  # padding is inert
        question = "Which sound is in the recording? " + " ".join(f"{'ABCD'[i]}) {o}" for i, o in enumerate(options))
        assert cloze_choice(model, state, question) == "ABCD"[max(range(4), key=fast.__getitem__)]
        absent = question.replace("Which sound is in the recording?", "Which of these sounds is NOT in the recording?")
        assert cloze_choice(model, state, absent) == "ABCD"[min(range(4), key=fast.__getitem__)]
    assert is_absent_stem("Which sound is absent?") and not is_absent_stem("Which sound do you hear?")


def test_whole_run_on_a_tiny_valset(tmp_path):
    from model.config import SAMConfig
    from model.data.valset import write_valset
    from model.sam import SAM
    from model.tokenizer import Tokenizer
    from test_data_build import make_corpus

    corpus = make_corpus(tmp_path / "c")
    report = write_valset(corpus, tmp_path / "val", n_scenes=12)
    tok = Tokenizer.train(["a dog barks", "quiet", "yes no"] * 20, vocab_size=290)
    model = SAM(SAMConfig.from_name("sam-tiny"), tok).eval()
    res = evaluate_valset(model, tmp_path / "val", batch_size=8, stream_minutes=(0.1,), max_new_tokens=4)
    rows = [json.loads(x) for x in (tmp_path / "val" / "items.jsonl").read_text().splitlines()]
    n_mcq = sum(r["kind"] == "mcq" for r in rows)
    assert res["items"] >= report.items + n_mcq
    assert sum(v for k, v in res.items() if k.endswith("_n") and not k.startswith("streaming")
               and k != "mcq_cloze_n") == res["items"]  # the cloze scoring rescores the mcq items
    assert res["mcq_cloze_n"] == n_mcq
    assert all(0.0 <= v <= 1.0 for k, v in res.items() if k.endswith("_accuracy"))
    assert all(res[k + "_ci95"][0] <= res[k] <= res[k + "_ci95"][1] for k in res if k.endswith("_accuracy"))
    assert all(len(res["correct"][k]) == res.get(k.removesuffix("_accuracy") + "_n", res.get("streaming_n"))
               for k in res if k.endswith("_accuracy"))  # every item's result is kept, for --compare
    preds = res["predictions"]  # every answer, with the verdict the accuracies are counted from
    assert len(preds) == res["items"]
    for key in ("mcq_accuracy", "tf_accuracy", "description_accuracy"):
        kind = [p["correct"] for p in preds if p["kind"] == key.split("_")[0] and not p["variant"]]
        assert sum(kind) / len(kind) == pytest.approx(res[key])
    from model.checkpoint import save_sam

    save_sam(model, tmp_path / "ck")
    assert main(["--checkpoint", str(tmp_path / "ck"), "--valset", str(tmp_path / "val"), "--out",
                 str(tmp_path / "ev"), "--device", "cpu", "--stream-minutes", "--limit", "12"]) == 0
    written = [json.loads(x) for x in (tmp_path / "ev" / "predictions.jsonl").read_text().splitlines()]
    on_disk = json.loads((tmp_path / "ev" / "report.json").read_text())["valset"]
    assert len(written) == on_disk["items"] and "predictions" not in on_disk  # beside the report, not in it
    assert (tmp_path / "val" / written[0]["scene"]).is_file()
    # every phrasing of "what did you just hear?" that names a sound is asked after the earlier audio
    from model.data.tasks import JUST_HEARD
    from model.evaluation.scoring import corpus_class_names

    just = [r for r in rows if r["kind"] == "recent" and r["question"] in JUST_HEARD]
    naming = [r for r in just if corpus_class_names().named(r["answer"])] or just
    assert any(r["question"] != JUST_HEARD[0] for r in just)  # the set asks another phrasing too
    assert res["streaming_n"] == len(naming)
