"""The largest sizes a config or a weights file may ask for: checked before anything is built from them."""

MAX_COUNT = 1_000_000  # iterations and intervals: time, not memory
# What a size may be, checked before anything is built: each bound holds its allocation to a few hundred MB
# at the others' defaults, where an absurd value used to end in an allocator traceback minutes later.
SIZE_BOUNDS = {
    "fc_width": 4096, "img_size": 1024, "max_map_side": 4096, "box_img_size": 1024, "batch_size": 4096,
    "batch_neg_cand": 65536, "n_samples": 65536, "n_pos_init": 100_000, "n_neg_init": 100_000,
    "n_pos_update": 10_000, "n_neg_update": 10_000, "n_bbreg": 100_000, "box_fit_samples": 100_000,
    "n_frames_long": 1000, "redetect_map_side": 4096, "n_frames_short": 1000, "top_k": 65536,
    "learner_delay": 30,  # frames: one copy of fc4-fc6 waits for each
}
MAX_CHANNELS = 4096  # per backbone layer (backbone_channels, and what a weights file claims)
MAX_FRAMES = 1_000_000  # frames a benchmark may be asked to run (a 10,000-frame soak is 1%)
MAX_THREADS = 256  # torch threads a benchmark may be asked for
MAX_TARGETS = 16  # tracked at once (tracker/multi.py): each keeps its own fc4-fc6, memories and learner
