"""Training: objectives, recipes, augmentations, the step, the one epoch loop (one job or K seed lanes), checkpoints."""
