"""DNSMOS: a clean speech-like signal scores above noisy copies, monotonically with the noise."""

from __future__ import annotations

import numpy as np
import pytest

from vocfw.core.demo_audio import speechlike
from vocfw.core.evaluate import mos

pytestmark = pytest.mark.skipif(not mos.available(), reason="the mos extra is not installed "
                                "(pip install 'vocfw[mos]')")


@pytest.mark.slow
def test_overall_score_falls_as_noise_grows() -> None:
    rate = 22050  # not 16 kHz: the scorer resamples
    clean = speechlike(4.0, rate, seed=3)
    noise = np.random.default_rng(0).standard_normal(clean.size).astype(np.float32)
    scores = [mos.dnsmos(clean + level * noise, rate) for level in (0.0, 0.01, 0.03, 0.1)]
    overall = [s["dnsmos_ovrl"] for s in scores]
    assert overall == sorted(overall, reverse=True) and len(set(overall)) == 4, overall
    background = [s["dnsmos_bak"] for s in scores]
    assert background == sorted(background, reverse=True), background
    assert all(1.0 <= s[name] <= 5.0 for s in scores for name in mos.METRICS)


def test_an_empty_waveform_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        mos.dnsmos(np.zeros(0, np.float32), 16000)
