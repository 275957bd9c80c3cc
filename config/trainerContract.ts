// GENERATED from config/trainerContract.json by `npx tsx config/trainerContractCodegen.ts --write`: do not edit by hand.

/** The names TypeScript and the trainer (images/trainer/contract.py) share. */
export const trainerContract = {
  mlflowTags: {
    studyId: "mlops.study_id",
    trialKey: "mlops.trial_key",
    trialIndex: "mlops.trial_index",
    workerIndex: "mlops.worker_index",
    role: "mlops.role",
    error: "mlops.error",
    modelSource: "mlops.model_source",
    pruned: "mlops.pruned",
    prunedAtFold: "mlops.pruned_at_fold",
    datasetSha256: "mlops.dataset_sha256",
    datasetBytes: "mlops.dataset_bytes",
    datasetEtag: "mlops.dataset_etag",
    bestTrialKey: "mlops.best_trial_key",
  },
  trialAttributes: {
    key: "mlops.trial_key",
    index: "mlops.trial_index",
    params: "mlops.params",
    error: "mlops.error",
  },
  queues: ["shard", "journal", "rdb"],
  env: {
    optunaStorage: "MLOPS_OPTUNA_STORAGE",
    optunaCreateFrom: "MLOPS_OPTUNA_CREATE_FROM",
    heartbeatSeconds: "MLOPS_HEARTBEAT_SECONDS",
    heartbeatGraceSeconds: "MLOPS_HEARTBEAT_GRACE_SECONDS",
    trackingRetrySeconds: "MLOPS_TRACKING_RETRY_SECONDS",
    jobCompletionIndex: "JOB_COMPLETION_INDEX",
  },
  metrics: {
    cvMean: "cv_{scoring}_mean",
    cvStd: "cv_{scoring}_std",
    cvFold: "cv_{scoring}_fold_{fold}",
    test: "test_{scoring}",
    testAccuracy: "test_accuracy",
    testRmse: "test_rmse",
    fitTimeSeconds: "fit_time_seconds",
    cvPartialMean: "cv_{scoring}_partial_mean",
    cvFoldsCompleted: "cv_folds_completed",
  },
  progressMetrics: {
    finished: "progress_finished",
    pruned: "progress_pruned",
    failed: "progress_failed",
    running: "progress_running",
    budget: "progress_budget",
    foldFits: "progress_fold_fits",
  },
} as const;
