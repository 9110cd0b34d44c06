"""The tiny GP budget the GP run tests share: every stage runs, in seconds."""

TINY = dict(
    population=8,
    islands=2,
    max_nodes=7,
    max_depth=4,
    init_depth=3,
    train_trajectories=4,
    validation_trajectories=8,
    elite=1,
    migration_size=1,
    migration_every=2,
    simplify_rate=(0.25, 0.25),
    const_every=2,
    const_top=2,
    tune_every=2,
    tune_steps=5,
    polish_steps=5,
    polish_trajectories=8,
    linear_seeds=2,
    seed_steps=5,
)
