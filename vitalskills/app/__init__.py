"""Whole workflows that wire the libraries together: what one command does, end to end.

Each module is one workflow, imported by the command that runs it (so `vitalskills check`
never pays for the simulator's imports):

- `run`: a task file on the simulator behind the bridge, or on a robot (`vitalskills run`)
- `dryrun`: the dry-run backend and `run --dry-run`
- `simscene`: which simulator scene a task needs
- `locate`: `vitalskills locate` on image files or a simulated scene
- `collect`, `evaluate`: demonstrations and skill evaluations on the simulator
- `train`: `train bc` and `train residual` (a dataset or a BC skill folder in, a packaged
  skill folder out)
"""
