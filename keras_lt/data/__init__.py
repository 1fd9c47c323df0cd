"""Data: the prepared dataset format, its preparation and long-tailed subsampling.

Backend-independent: nothing here imports keras or a deep-learning framework.
"""

from keras_lt.data.dataset import DatasetError, PreparedDataset, Split
from keras_lt.data.longtail import longtail_counts, select_longtail
from keras_lt.data.prepare import DataPreparationError, prepare_dataset

__all__ = ["PreparedDataset", "Split", "DatasetError", "prepare_dataset",
           "DataPreparationError", "longtail_counts", "select_longtail"]
