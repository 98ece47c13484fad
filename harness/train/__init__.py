"""Training: the state a job builds, objectives, recipes, augmentations and their draws, batching, the step (eager or
CUDA graph), the one epoch loop (one job or K seed lanes), DDP ranks, checkpoints, sample grids, trackers."""
