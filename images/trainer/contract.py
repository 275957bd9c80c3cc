"""GENERATED from config/trainerContract.json by `npx tsx config/trainerContractCodegen.ts --write`: do not edit by hand.

The names the trainer shares with the TypeScript side (config/trainerContract.ts). Metric names are
templates: `METRIC_CV_MEAN.format(scoring="f1_macro")`."""

TAG_STUDY_ID = "mlops.study_id"
TAG_TRIAL_KEY = "mlops.trial_key"
TAG_TRIAL_INDEX = "mlops.trial_index"
TAG_WORKER_INDEX = "mlops.worker_index"
TAG_ROLE = "mlops.role"
TAG_ERROR = "mlops.error"
TAG_MODEL_SOURCE = "mlops.model_source"
TAG_PRUNED = "mlops.pruned"
TAG_PRUNED_AT_FOLD = "mlops.pruned_at_fold"
TAG_DATASET_SHA256 = "mlops.dataset_sha256"
TAG_DATASET_BYTES = "mlops.dataset_bytes"
TAG_DATASET_ETAG = "mlops.dataset_etag"
TAG_BEST_TRIAL_KEY = "mlops.best_trial_key"

ATTR_KEY = "mlops.trial_key"
ATTR_INDEX = "mlops.trial_index"
ATTR_PARAMS = "mlops.params"
ATTR_ERROR = "mlops.error"

QUEUES = ("shard", "journal", "rdb")

ENV_OPTUNA_STORAGE = "MLOPS_OPTUNA_STORAGE"
ENV_OPTUNA_CREATE_FROM = "MLOPS_OPTUNA_CREATE_FROM"
ENV_HEARTBEAT_SECONDS = "MLOPS_HEARTBEAT_SECONDS"
ENV_HEARTBEAT_GRACE_SECONDS = "MLOPS_HEARTBEAT_GRACE_SECONDS"
ENV_TRACKING_RETRY_SECONDS = "MLOPS_TRACKING_RETRY_SECONDS"
ENV_JOB_COMPLETION_INDEX = "JOB_COMPLETION_INDEX"

METRIC_CV_MEAN = "cv_{scoring}_mean"
METRIC_CV_STD = "cv_{scoring}_std"
METRIC_CV_FOLD = "cv_{scoring}_fold_{fold}"
METRIC_TEST = "test_{scoring}"
METRIC_TEST_ACCURACY = "test_accuracy"
METRIC_TEST_RMSE = "test_rmse"
METRIC_FIT_TIME_SECONDS = "fit_time_seconds"
METRIC_CV_PARTIAL_MEAN = "cv_{scoring}_partial_mean"
METRIC_CV_FOLDS_COMPLETED = "cv_folds_completed"

PROGRESS_FINISHED = "progress_finished"
PROGRESS_PRUNED = "progress_pruned"
PROGRESS_FAILED = "progress_failed"
PROGRESS_RUNNING = "progress_running"
PROGRESS_BUDGET = "progress_budget"
PROGRESS_FOLD_FITS = "progress_fold_fits"
