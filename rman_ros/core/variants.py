"""Ablation variants of Fig. 6 as config overrides (name -> dict for RMANConfig.replace)."""

# the paper's variants score candidates with their own head alone (no score fusion with a memory-free head)
PAPER_SCORE = {"baseline_fusion": 0.0}

ABLATIONS = {
    # CNN + FC trained with Lc only (MDNet without offline training)
    "baseline": {"use_lstm": False, "aggregation": "none", "use_la": False, "use_lb": False, **PAPER_SCORE},
    # + LSTM, classifier on h_T only
    "baseline_lstm": {"use_lstm": True, "aggregation": "none", "use_la": False, "use_lb": False, **PAPER_SCORE},
    # + memory activation layer (Eq. 1-2)
    "baseline_lstm_mal": {"use_lstm": True, "aggregation": "mal", "use_la": False, "use_lb": False, **PAPER_SCORE},
    # + activation loss La (Eq. 5)
    "baseline_lstm_mal_la": {"use_lstm": True, "aggregation": "mal", "use_la": True, "use_lb": False, **PAPER_SCORE},
    # full RMAN: + Lb (Eq. 6)
    "rman": {"use_lstm": True, "aggregation": "mal", "use_la": True, "use_lb": True, **PAPER_SCORE},
    # average pooling instead of MAL
    "baseline_lstm_apl_la_lb": {"use_lstm": True, "aggregation": "apl", "use_la": True, "use_lb": True, **PAPER_SCORE},
    # MAL without the LSTM (per-branch FC memory states)
    "baseline_mal_la_lb": {"use_lstm": False, "aggregation": "mal", "use_la": True, "use_lb": True, **PAPER_SCORE},
}


# Named configurations that are not ablations (e.g. `fast`) are preset files: config/presets/*.yaml,
# read by rman_ros.core.config_files.
