"""The token-layout benchmark measures the layouts it names: eight tokens per column cost eight times the tokens."""
from model.bench.layouts import bench_layouts


def test_long_layouts_feed_the_lm_eight_times_the_tokens_and_every_cost_is_measured():
    res = bench_layouts("sam-tiny", seconds=2.56, batch=1, scene_blocks=1)
    assert set(res) >= {"column", "time_major", "freq_major"}
    assert res["column"]["audio_tokens_per_second"] == 6.25  # one token per 160 ms column
    for layout in ("time_major", "freq_major"):
        assert res[layout]["audio_tokens_per_second_vs_column"] == 8.0
    for layout in ("column", "time_major", "freq_major"):
        row = res[layout]
        assert row["audio_seconds"] == 2.56
        assert row["train_step_s"] > 0 and row["listen_ms_per_hop"] > 0 and row["ask_time_to_first_token_ms"] > 0
