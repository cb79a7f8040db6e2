"""Class names, in label order, of the datasets the zoo's weights are trained on.

A weights entry names its dataset; ``categories(dataset)`` gives what its labels mean,
so predictions of any weights can be decoded, not only ImageNet's. The names are the
datasets' own: Fashion-MNIST's from Zalando's README (github.com/zalandoresearch/fashion-mnist),
CIFAR's from the ``batches.meta`` / ``meta`` files of Krizhevsky's archives (CIFAR-100's
100 fine labels, alphabetical as there), ImageNet's from ``imagenet_classes.tsv``.
"""

from __future__ import annotations

DIGITS = tuple(str(digit) for digit in range(10))
CATEGORIES = {
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    "mnist": DIGITS,
    "digits": DIGITS,
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    "cifar100": (
        "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
        "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
        "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
        "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
        "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
        "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
        "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
        "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
        "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
        "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
    ),
}
IMAGENET = ("imagenet", "imagenet2012")


def known_datasets() -> list:
    return sorted({*CATEGORIES, *IMAGENET})


def categories(dataset: str) -> tuple:
    """The class names of ``dataset`` in label order; a ``ValueError`` lists the known ones."""
    if dataset in IMAGENET:
        from dwr_larq.models.preprocessing import class_names

        return tuple(class_names())
    if dataset not in CATEGORIES:
        raise ValueError(f"no class names known for dataset {dataset!r}; known: {', '.join(known_datasets())}")
    return CATEGORIES[dataset]
