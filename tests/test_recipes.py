"""Training plans: every run continues an existing run, and every branch ends when the main chain does."""
from pathlib import Path

from model.recipes import SHARES, ablation_plan, command, default_plan, make_plan


def _end(run, by_name):
    share = SHARES["instruct" if run.name.endswith("instruct_slot") else run.stage]
    return share + (_end(by_name[run.after], by_name) if run.after else 0.0)


def test_branches_end_together_and_continue_existing_runs():
    plan = ablation_plan()
    by_name = {r.name: r for r in plan}
    assert len(by_name) == len(plan)
    leaves = [r for r in plan if not any(o.after == r.name for o in plan)]
    assert {r.name.split(".")[0] for r in leaves} == {"main", "frozen", "time_major", "freq_major", "no_instruct",
                                                       "held_out"}
    for r in leaves:
        assert abs(_end(r, by_name) - 1.0) < 1e-9, r.name
    for r in plan:
        assert r.after is None or r.after in by_name


def test_ablations_differ_from_the_main_chain_in_one_thing():
    plan = {r.name: r for r in ablation_plan()}
    cmd = lambda name: command(plan[name], Path("runs"), 10.0, [])  # noqa: E731
    assert "--freeze" in cmd("frozen.joint") and "--freeze" in cmd("frozen.instruct")
    assert cmd("time_major.connector")[-4:-2] == ["--layout", "time_major"]
    assert "--layout" not in cmd("time_major.joint")  # the layout is set once, then carried by the checkpoint
    assert plan["no_instruct.instruct_slot"].stage == "joint" and plan["main.instruct"].stage == "instruct"
    assert [r.stage for r in default_plan()] == ["tagger", "connector", "joint", "instruct"]


def test_the_held_out_plan_differs_from_the_main_chain_only_in_its_packages():
    plan = make_plan("held_out", main_workers=14)
    assert [r.name.split(".")[0] for r in plan] == ["main"] * 4 + ["held_out"] * 4
    for main, held in zip(plan[:4], plan[4:]):
        a, b = command(main, Path("runs"), 10.0, []), command(held, Path("runs"), 10.0, [])
        assert main.stage == held.stage and main.workers == held.workers == 7  # the workers shared
        extra = [x for x in b if x not in a and "held_out" not in x]
        assert extra[0] == "--hold-out" and len(extra) > 1  # the packages, and nothing else new
        assert a[a.index("--minutes") + 1] == b[b.index("--minutes") + 1]
    ablations = make_plan("ablations", 14)
    assert all(r.workers == (14 if r.name.startswith("main.") else 2) for r in ablations)


def test_a_stopped_plan_resumes_where_it_stopped(tmp_path):
    from model.recipes import execute
    from test_data_build import make_corpus
    from test_train import COMMON, losses

    corpus = make_corpus(tmp_path / "corpus")
    runs = tmp_path / "runs"
    plan = default_plan()[:2]
    common = ["--corpus", str(corpus), "--max-steps", "3", *COMMON]
    first = execute(plan, runs, 1.0, [*common, "--stop-after", "2"])
    assert first["main.tagger"]["rc"] == 0 and not first["main.tagger"]["finished"]
    assert first["main.connector"]["skipped"]  # a stopped run's successor does not start
    second = execute(plan, runs, 1.0, common, resume=True)
    assert all(s["finished"] for s in second.values())
    assert len(losses(runs / "main.tagger")) == 3  # steps 1-2, then step 3 from the checkpoint, not a restart
    third = execute(plan, runs, 1.0, common, resume=True)
    assert all(s.get("earlier") for s in third.values())  # nothing reran
