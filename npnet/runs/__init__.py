"""A training run of an IMDB model, in five modules:

- `config`: `TrainConfig` (every setting of `npnet train`, validated), the presets and `preset_config`;
- `data`: the IMDB arrays a config asks for, padded (and n-grammed) as training saw them, the validation
split;
- `folders`: the run folder (`runs/<name>/`: config, word index, n-gram table, nbsvm's ratio, checkpoint,
  weights, report)
  and `open_run`;
- `model`: the model a config defines (`build_model`);
- `fit`: `fit_run`, which trains it into its folder.

Nothing here prints: the CLI does. The names below are the ones the CLI, sweeps and benchmarks use.
"""

from npnet.errors import RunError
from npnet.runs.config import MAX_NUM_WORDS, MAX_SEED, PRESETS, TrainConfig, preset_config
from npnet.runs.data import (
    IMDBData,
    data_files,
    fit_arrays,
    known_words,
    load_imdb,
    pad_like_training,
    split_validation,
)
from npnet.runs.fit import fit_run
from npnet.runs.folders import (
    CHECKPOINT_NPZ,
    CONFIG_JSON,
    NGRAMS_NPZ,
    RATIO_NPZ,
    WEIGHTS_NPZ,
    WORD_INDEX_JSON,
    Run,
    check_new_run,
    create_run,
    missing_outputs,
    open_run,
    read_json,
    remove_unstarted_run,
    update_epochs,
    write_json,
)
from npnet.runs.model import build_model

__all__ = [
    "CHECKPOINT_NPZ",
    "CONFIG_JSON",
    "MAX_NUM_WORDS",
    "MAX_SEED",
    "NGRAMS_NPZ",
    "PRESETS",
    "RATIO_NPZ",
    "WEIGHTS_NPZ",
    "WORD_INDEX_JSON",
    "IMDBData",
    "Run",
    "RunError",
    "TrainConfig",
    "build_model",
    "check_new_run",
    "create_run",
    "data_files",
    "fit_arrays",
    "fit_run",
    "known_words",
    "load_imdb",
    "missing_outputs",
    "open_run",
    "pad_like_training",
    "preset_config",
    "read_json",
    "remove_unstarted_run",
    "split_validation",
    "update_epochs",
    "write_json",
]
