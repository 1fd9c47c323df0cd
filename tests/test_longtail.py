"""Long-tailed subsampling: counts and the published CIFAR-LT selection."""

import numpy as np
import pytest

from keras_lt.data.longtail import longtail_counts, select_longtail


@pytest.mark.parametrize("n_max, classes, imb, first, last, total", [
    (5000, 10, 100, 5000, 50, 12406),
    (5000, 10, 50, 5000, 100, 13996),
    (5000, 10, 10, 5000, 500, 20431),
    (500, 100, 100, 500, 5, 10847),
    (500, 100, 50, 500, 10, 12608),
    (500, 100, 10, 500, 50, 19573),
])
def test_counts_match_data_readme_table(n_max, classes, imb, first, last, total):
    counts = longtail_counts(n_max, classes, imb)
    assert len(counts) == classes
    assert counts[0] == first and counts[-1] == last and sum(counts) == total


def test_cifar10_if100_per_class():
    assert longtail_counts(5000, 10, 100) == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]


def test_counts_without_imbalance():
    assert longtail_counts(7, 3, None) == [7, 7, 7]
    assert longtail_counts(7, 3, 1) == [7, 7, 7]
    with pytest.raises(ValueError):
        longtail_counts(7, 3, 0.5)


def _published_selection(labels, imb_factor, cls_num):
    """The literal published procedure (Cao et al. 2019, IMBALANCECIFAR10):
    global np.random.seed(0), then per class np.random.shuffle and keep the first n_i."""
    img_max = len(labels) / cls_num
    img_num_per_cls = []
    for cls_idx in range(cls_num):
        num = img_max * (1.0 / imb_factor) ** (cls_idx / (cls_num - 1.0))
        img_num_per_cls.append(int(num))
    np.random.seed(0)
    targets_np = np.array(labels, dtype=np.int64)
    classes = np.unique(targets_np)
    selected = []
    for the_class, the_img_num in zip(classes, img_num_per_cls):
        idx = np.where(targets_np == the_class)[0]
        np.random.shuffle(idx)
        selected.append(idx[:the_img_num])
    return np.concatenate(selected)


@pytest.mark.parametrize("classes, per_class, imb", [(10, 5000, 100), (10, 5000, 10), (100, 500, 50)])
def test_selection_equals_published_procedure(classes, per_class, imb):
    # a realistic interleaved label order (the official batches are not sorted by class)
    labels = np.random.RandomState(123).permutation(np.repeat(np.arange(classes), per_class))
    state = np.random.get_state()
    try:
        expected = _published_selection(labels, imb, classes)
    finally:
        np.random.set_state(state)
    before = np.random.get_state()[1].copy()
    got = select_longtail(labels, imb, seed=0)
    assert np.array_equal(np.random.get_state()[1], before)   # global RNG untouched
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)
    assert np.bincount(labels[got], minlength=classes).tolist() == \
        longtail_counts(per_class, classes, imb)


def test_selection_too_few_images():
    labels = np.array([0, 0, 0, 1])
    with pytest.raises(ValueError, match="class 1"):
        select_longtail(labels, 1.5, n_max=3)
