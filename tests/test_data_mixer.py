"""The scene mixer: events sit where their timestamps say, at the requested SNR, deterministically."""
import random

import numpy as np
import pytest

from model.audio import SAMPLE_RATE
from model.data.mixer import ClipBank, ClipRef, MixConfig, mix_scene, quiet_stretches, render

SR = SAMPLE_RATE


def tone(seconds: float, freq: float, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    return (0.3 * np.sin(2 * np.pi * freq * t) * (0.8 + 0.2 * rng.random(len(t)))).astype(np.float32)


@pytest.fixture(scope="module")
def bank() -> ClipBank:
    audio, refs = {}, []
    for i, (label, cat) in enumerate([("dog", "animal"), ("door", "domestic"), ("piano", "instrument"),
                                      ("speech", "speech"), ("rain", "nature"), ("wind", "nature")] * 3):
        cid = f"{label}-{i}"
        audio[cid] = tone(0.4 + 0.3 * (i % 4), 200 + 150 * i, i)
        if label in ("rain", "wind"):
            audio[cid] = (np.random.default_rng(i).standard_normal(3 * SR) * 0.1).astype(np.float32)
        kind = {"speech": "speech", "piano": "music"}.get(label, "sound")
        refs.append(ClipRef(cid, label, cat, kind, len(audio[cid]) / SR))
    return ClipBank(refs, audio.__getitem__)


def test_events_sit_at_their_timestamps(bank):
    cfg = MixConfig(background_prob=0.0, noise_floor_db=None, overlap_prob=0.0)
    checked = 0
    for seed in range(20):
        scene = mix_scene(bank, random.Random(seed), cfg)
        active = np.zeros(len(scene.audio), bool)
        for e in scene.events:
            a, b = round(e.start_s * SR), round(e.end_s * SR)
            active[a:b] = True
            # the event's own energy is in its span: its RMS there equals the level it reports
            rms_db = 10 * np.log10(np.mean(scene.audio[a:b].astype(np.float64) ** 2))
            if not any(o is not e and o.start_s < e.end_s and e.start_s < o.end_s for o in scene.events):
                assert abs(rms_db - e.level_db) < 0.1
                checked += 1
        assert np.all(scene.audio[~active] == 0), "sound outside every event's timestamps"
    assert checked > 20


def test_snr_is_as_requested(bank):
    cfg = MixConfig(noise_floor_db=None)
    rain = next(c for c in bank.clips if c.label == "rain")
    fg = [c for c in bank.clips if c.label not in ("rain", "wind")]
    n = 8 * SR
    for seed in range(10):
        draw = random.Random(seed)
        picks = []
        for k in range(3):  # three events in separate thirds, SNRs from -5 to 25 dB
            clip = draw.choice(fg)
            picks.append((clip, k * n // 3 + draw.randrange(SR // 2), bank.audio(clip.id), draw.uniform(-5, 25)))
        scene = render(bank, n, picks, (rain, -30.0), random.Random(seed), cfg)
        alone = render(bank, n, [], (rain, -30.0), random.Random(seed), cfg).audio.astype(np.float64)
        assert len(scene.events) == 3
        for e, (_, _, _, want) in zip(scene.events, picks):
            a, b = round(e.start_s * SR), round(e.end_s * SR)
            event = scene.audio[a:b].astype(np.float64) - alone[a:b]
            snr = 10 * np.log10(np.mean(event**2) / np.mean(alone[a:b] ** 2))
            assert abs(snr - want) < 1.0 and abs(e.snr_db - want) < 0.01
    scene = mix_scene(bank, random.Random(0), MixConfig(background_prob=1.0))
    assert scene.background and all(cfg.snr_db[0] <= e.snr_db <= cfg.snr_db[1] for e in scene.events)


def test_quiet_stretches_cover_the_gaps():
    from model.data.mixer import Event

    events = [Event(1.5, 2.0, "dog", "animal", "sound", "a", -20, None),
              Event(2.2, 4.0, "door", "domestic", "sound", "b", -20, None)]
    assert quiet_stretches(events, 7.0, 1.0) == [(0.0, 1.5), (4.0, 7.0)]
    assert quiet_stretches([], 3.0, 1.0) == [(0.0, 3.0)]


def test_same_seed_same_scene_and_durations_in_range(bank):
    cfg = MixConfig(min_duration_s=1.0, max_duration_s=6.0)
    a = mix_scene(bank, random.Random(3), cfg)
    b = mix_scene(bank, random.Random(3), cfg)
    assert np.array_equal(a.audio, b.audio) and a.events == b.events
    c = mix_scene(bank, random.Random(4), cfg)
    assert not np.array_equal(a.audio, c.audio) or a.events != c.events
    for seed in range(30):
        s = mix_scene(bank, random.Random(seed), cfg)
        assert 1.0 <= s.duration_s <= 6.0 and len(s.events) <= cfg.max_events
        assert all(0 <= e.start_s < e.end_s <= s.duration_s + 1e-9 for e in s.events)


def test_long_streams_have_many_events(bank):
    s = mix_scene(bank, random.Random(1), MixConfig(), duration_s=180.0)
    assert len(s.audio) == 180 * SR and len(s.events) > 4


def test_a_faster_clip_is_shorter_higher_as_loud_and_not_aliased():
    from model.data.mixer import change_speed

    def tone(hz):
        return np.sin(2 * np.pi * hz * np.arange(SR) / SR)

    x = tone(1000)
    for factor in (0.9, 1.1, 1.07):
        y = change_speed(x, factor)
        assert abs(len(y) - SR / factor) <= 1
        peak = np.argmax(np.abs(np.fft.rfft(y))) * SR / len(y)
        assert abs(peak - 1000 * factor) <= 1.5
        middle = y[SR // 10 : -SR // 10]  # away from the resampler's edges
        assert np.sqrt(np.mean(middle**2)) == pytest.approx(np.sqrt(0.5), rel=0.01)
    assert change_speed(x, 1.0) is x
    # 7.6 kHz played 1.1 times faster would be 8.36 kHz, above Nyquist: it must vanish, not fold to 7.64 kHz
    high = change_speed(tone(7600), 1.1)[SR // 10 : -SR // 10]
    assert np.sqrt(np.mean(high**2)) < 0.01


def test_scenes_played_at_another_speed_keep_their_timestamps_true(bank):
    faster = MixConfig(background_prob=0.0, noise_floor_db=None, overlap_prob=0.0, speed=(1.3, 1.3))
    samples = {c.id: len(bank.audio(c.id)) for c in bank.clips}
    for seed in range(10):
        scene = mix_scene(bank, random.Random(seed), faster, 6.0)
        active = np.zeros(len(scene.audio), bool)
        for e in scene.events:  # clips of at most 1.3 s in a 6 s scene: none is cropped
            a, b = round(e.start_s * SR), round(e.end_s * SR)
            assert abs((b - a) - samples[e.clip_id] / 1.3) <= 1  # played faster: its span is the shorter clip's
            active[a:b] = True
        assert scene.events and np.all(scene.audio[~active] == 0)  # nothing sounds outside the reported spans
