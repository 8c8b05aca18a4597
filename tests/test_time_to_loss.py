"""`nanogpt bench time-to-loss`: real `nanogpt train` processes, timed from their start; the JSON must be
complete and consistent (the seconds themselves are never asserted)."""

import math

import pytest

from nanogpt_lib.cli.main import build_parser
from nanogpt_lib.cli.time_to_loss import bench_time_to_loss, record_test, t_upper_tail


def test_time_to_loss_reports_each_target():
    r = bench_time_to_loss("tiny", [4.0, 0.1], repeats=1, eval_interval=5, max_iters=10)
    (run,) = r["runs"]
    assert [e[0] for e in run["evals"]] == [5, 10] and run["steps"] == 10
    hit = run["targets"]["4.0"]
    assert hit["step"] in (5, 10) and hit["tokens"] == hit["step"] * r["tokens_per_step"] == hit["step"] * 8 * 32
    assert 0 < hit["startup_seconds"] < hit["seconds"] <= run["total_seconds"]
    assert hit["seconds"] == pytest.approx(hit["startup_seconds"] + hit["optimizer_step_seconds"]
                                           + hit["eval_checkpoint_log_seconds"])
    assert run["targets"]["0.1"] is None and r["summary"]["0.1"]["reached"] == "0/1"
    assert r["summary"]["4.0"]["reached"] == "1/1" and r["summary"]["4.0"]["seconds"]["median"] == hit["seconds"]
    assert r["final_val_loss"]["median"] == run["evals"][-1][2]
    assert r["command"] == "nanogpt train --preset tiny --max_iters 10 --eval_interval 5"
    assert {"threads", "torch", "machine"} <= set(r)


def test_time_to_loss_options_and_refusals():
    parser, _ = build_parser()
    args = parser.parse_args(["bench", "time-to-loss", "--preset", "tiny", "--target", "1.89", "--target", "1.7",
                              "--set", "n_layer=1", "--repeats", "5"])
    assert args.target == [1.89, 1.7] and args.repeats == 5 and args.set == ["n_layer=1"]
    args = parser.parse_args(["bench", "time-to-loss", "--preset", "modern", "--target", "1.47", "--seeds", "1", "2",
                              "3", "--nanogpt", "../nanoGPT", "--budget", "9"])
    assert args.seeds == [1, 2, 3] and args.nanogpt == "../nanoGPT" and args.budget == 9.0
    with pytest.raises(ValueError, match="unknown config field"):  # before any process is started
        bench_time_to_loss("tiny", [2.0], repeats=1, n_layers=1)
    with pytest.raises(ValueError, match="not before the run's end"):
        bench_time_to_loss("tiny", [2.0], repeats=1, stop_after=40)


def test_stop_after_keeps_the_whole_runs_schedule():
    r = bench_time_to_loss("tiny", [0.1], repeats=1, eval_interval=5, stop_after=10)
    assert r["runs"][0]["steps"] == 10 and r["max_iters"] == 10
    assert r["overrides"]["lr_decay_iters"] == 40  # the tiny preset's max_iters: its schedule, cut short
    assert r["command"].endswith("--max_iters 10 --lr_decay_iters 40")


def test_seeds_give_one_run_each_and_the_final_loss_is_checked_window_by_window():
    r = bench_time_to_loss("tiny", [4.0], seeds=[1, 2], eval_interval=10, max_iters=10)
    assert r["seeds"] == [1, 2] and r["repeats"] == 2
    a, b = r["runs"]
    assert a["evals"][-1][2] != b["evals"][-1][2]  # other seeds, other runs
    for run in r["runs"]:
        check = run["final_val_precision"]
        # the window-by-window mean is the val loss the run printed (4 decimals)
        assert check["val_loss"] == pytest.approx(run["final_val_loss"], abs=6e-5)
        assert check["windows"] == r["eval_windows"] == 4 * 8 and 0 < check["standard_error"] < 0.5
    assert r["record"]["n"] == 2 and not r["record"]["passes"]  # fewer than 3 runs never make a record
    with pytest.raises(ValueError, match="--seeds only"):
        bench_time_to_loss("tiny", [4.0], seeds=[1], seed=3)


def test_t_test_matches_closed_forms():
    for t in (0.3, 2.92, 6.965, 40.0):
        assert t_upper_tail(t, 1) == pytest.approx(0.5 - math.atan(t) / math.pi, abs=1e-12)
        assert t_upper_tail(t, 2) == pytest.approx(0.5 - t / (2 * math.sqrt(2 + t * t)), abs=1e-12)
    assert t_upper_tail(2.92, 2) == pytest.approx(0.05, abs=1e-4)  # the textbook table's critical values
    assert t_upper_tail(2.132, 4) == pytest.approx(0.05, abs=1e-3)


def test_record_rule():
    assert record_test([1.462, 1.458, 1.460], 1.47)["passes"]
    # one run above the target: no record, however good the mean
    assert not record_test([1.40, 1.41, 1.4701], 1.47)["passes"]
    # all below, but too close and too spread out for p < 0.05
    close = record_test([1.469, 1.4695, 1.4601], 1.47)
    assert close["every_run_reached"] and close["p_value"] > 0.05 and not close["passes"]
    assert not record_test([1.46, 1.46], 1.47)["passes"]  # two runs are not enough
    assert record_test([1.46, 1.46, 1.46], 1.47)["p_value"] == 0.0  # identical runs: certain
    # every run's loss must be measured to a standard error <= 0.005
    assert record_test([1.462, 1.458, 1.460], 1.47, [0.004, 0.005, 0.003])["passes"]
    imprecise = record_test([1.462, 1.458, 1.460], 1.47, [0.004, 0.02, 0.003])
    assert not imprecise["passes"] and not imprecise["precise_enough"]


def test_side_by_side_with_a_recipe_from_another_checkout(tmp_path):
    """--nanogpt runs the recipe in that folder after each run; a stand-in train.py prints nanoGPT's lines."""
    with pytest.raises(ValueError, match="not a nanoGPT checkout"):
        bench_time_to_loss("tiny", [4.0], repeats=1, nanogpt=tmp_path)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "train_shakespeare_char.py").write_text("")
    (tmp_path / "train.py").write_text(
        "import time\nfor s, v in ((1000, 2.5), (2000, 1.8857)):\n"
        "    time.sleep(0.2)\n    print(f'step {s}: train loss 2.0, val loss {v}', flush=True)\n")
    with pytest.raises(ValueError, match="prepare.py"):
        bench_time_to_loss("tiny", [4.0], repeats=1, nanogpt=tmp_path)
    (tmp_path / "data" / "shakespeare_char").mkdir(parents=True)
    (tmp_path / "data" / "shakespeare_char" / "train.bin").write_bytes(b"")
    r = bench_time_to_loss("tiny", [4.0, 0.1], seeds=[5, 6], eval_interval=10, max_iters=10, nanogpt=tmp_path,
                           budget=1000)
    side = r["nanogpt"]
    assert [run["evals"][-1][0] for run in side["runs"]] == [2000, 2000] and side["seconds"]["n"] == 2
    assert side["seconds"]["min"] >= 0.4  # the stand-in's two sleeps: the recipe's time is its second line's
    ours = r["summary"]["4.0"]["seconds"]["median"]
    assert side["times_recipe"]["4.0"] == pytest.approx(ours / side["seconds"]["median"])
    assert side["times_recipe"]["0.1"] is None  # never reached
    assert side["budget"]["target"] == 0.1 and not side["budget"]["within"]
