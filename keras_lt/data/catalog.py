"""The long-tailed benchmarks keras-lt's recipes are written for, as data.

A recipe names its benchmark in ``data.dataset`` (an id of :data:`CATALOG`) and, for the
CIFAR-LT constructions, ``data.imbalance_factor``; the zoo, the model cards and the
conversion of official checkpoints read those two facts (never the recipe's name), and
training checks them against the prepared dataset's provenance.

>>> dataset_title("cifar10lt", 100)
'CIFAR-10-LT IF100'
>>> CATALOG["imagenetlt"].hub_id
'imagenet-1k'
"""

import dataclasses

__all__ = ["DatasetInfo", "CATALOG", "get_dataset_info", "dataset_title", "CIFAR10_CLASSES",
           "CIFAR100_CLASSES"]

#: class names in label order of the CIFAR python releases (``batches.meta`` / ``meta``)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")
CIFAR100_CLASSES = tuple("""
apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly
camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile
cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp
lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree
orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine possum
rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail snake spider
squirrel streetcar sunflower sweet_pepper table tank telephone television tiger tractor train
trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split())


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """A benchmark: its id (``data.dataset``), readable title, Hugging Face dataset id, and
    for the CIFAR-LT constructions the full set's class names and images per class (from
    which :func:`keras_lt.data.longtail_counts` gives each imbalance factor's counts)."""

    id: str
    title: str
    hub_id: str
    class_names: tuple = ()
    images_per_class: int | None = None


CATALOG = {d.id: d for d in (
    DatasetInfo("cifar10lt", "CIFAR-10-LT", "cifar10", CIFAR10_CLASSES, 5000),
    DatasetInfo("cifar100lt", "CIFAR-100-LT", "cifar100", CIFAR100_CLASSES, 500),
    DatasetInfo("imagenetlt", "ImageNet-LT", "imagenet-1k"),
    DatasetInfo("inat2018", "iNaturalist 2018", "inaturalist-2018"),
    DatasetInfo("placeslt", "Places-LT", "places365"),
)}


def get_dataset_info(dataset_id):
    """The :class:`DatasetInfo` of ``dataset_id``; a ValueError lists the known ids."""
    try:
        return CATALOG[dataset_id]
    except KeyError:
        raise ValueError(f"unknown data.dataset {dataset_id!r}; known: {sorted(CATALOG)} "
                         f"(null for other data)") from None


def dataset_title(dataset_id, imbalance_factor=None):
    """``"CIFAR-10-LT IF100"``: the benchmark's title and imbalance factor."""
    title = get_dataset_info(dataset_id).title
    return f"{title} IF{imbalance_factor:g}" if imbalance_factor else title
