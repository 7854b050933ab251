"""The machinery behind ``ppbench sweep`` (:mod:`ppbench.sweep` re-exports it and documents the file format).

``spec`` parses and checks the TOML file, ``plan`` resolves the runs and finds what is missing, ``job`` is
one run as submitit executes it, ``slurm`` the resources and the sbatch preview, ``launch`` the executors.
"""
