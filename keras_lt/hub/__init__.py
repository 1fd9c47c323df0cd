"""The model zoo: registry, pretrained folders, model cards, conversion of official
checkpoints. ``keras_lt.from_pretrained`` / ``save_pretrained`` / ``list_models`` /
``predict`` are re-exported at the top level."""
