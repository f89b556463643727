"""How a training run is spread over processes: the DeepSpeed config (``build_ds_config``,
``split_batch``), the launchers it accepts (torchrun, deepspeed, accelerate, MPI) and Ulysses
sequence parallelism (``Layout``, ``model_batch``, ``layout_problem``)."""
