"""`nanogpt bench time-to-loss`: real `nanogpt train` processes, timed from their start; the JSON must be
complete and consistent (the seconds themselves are never asserted)."""

import pytest

from nanogpt_lib.cli.bench import bench_time_to_loss
from nanogpt_lib.cli.main import build_parser


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
    with pytest.raises(ValueError, match="unknown config field"):  # before any process is started
        bench_time_to_loss("tiny", [2.0], repeats=1, n_layers=1)
    with pytest.raises(ValueError, match="not before the run's end"):
        bench_time_to_loss("tiny", [2.0], repeats=1, stop_after=40)


def test_stop_after_keeps_the_whole_runs_schedule():
    r = bench_time_to_loss("tiny", [0.1], repeats=1, eval_interval=5, stop_after=10)
    assert r["runs"][0]["steps"] == 10 and r["max_iters"] == 10
    assert r["overrides"]["lr_decay_iters"] == 40  # the tiny preset's max_iters: its schedule, cut short
    assert r["command"].endswith("--max_iters 10 --lr_decay_iters 40")
