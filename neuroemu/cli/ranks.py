"""``neuroemu run ... --ranks N``: the same run split over N MPI ranks on this machine.

The command re-executes itself under the ``mpiexec`` of the mpi extra's MPICH wheel
(``mpiexec -n N python -m neuroemu.cli run <the same arguments>``); each rank then runs
:func:`neuroemu.engine.ranks.simulate_ranks` and rank 0 alone prints and writes. MPICH's
launcher starts more ranks than there are CPUs without complaint (oversubscribed).
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys

import click

from neuroemu.engine.mpi import INSTALL_HINT, launched_rank, launched_size, mpiexec_path


def command_line(ctx: click.Context, drop: tuple[str, ...] = ("ranks",)) -> list[str]:
    """The arguments that give ``ctx``'s command the values it was called with (minus ``drop``)."""
    args: list[str] = []
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if param.name in drop or value is None:
            continue
        if isinstance(param, click.Argument):
            args.append(str(value))
        elif param.is_flag:
            if value:
                args.append(param.opts[0])
            elif param.secondary_opts:
                args.append(param.secondary_opts[0])
        else:
            args += [param.opts[0], str(value)]
    return args


def launch(ctx: click.Context, ranks: int) -> int:
    """Run the command under ``mpiexec -n ranks``; its exit code. One line if MPI is missing, or
    if a rank died without a word (MPICH's launcher then stops the others)."""
    if launched_size() > 1:
        raise click.ClickException("--ranks: this process already runs under mpiexec; leave --ranks out")
    exe = mpiexec_path()
    if exe is None or importlib.util.find_spec("mpi4py") is None:
        missing = "mpiexec" if exe is None else "mpi4py"
        raise click.ClickException(f"--ranks: {missing} not found: {INSTALL_HINT}")
    argv = [exe, "-n", str(ranks), sys.executable, "-m", "neuroemu.cli", ctx.info_name, *command_line(ctx)]
    code = subprocess.call(argv)
    if code not in (0, 1):  # 1: a rank said why; anything else: a rank died (signal, hard exit) unheard
        raise click.ClickException(f"--ranks: a rank ended abnormally (mpiexec exit code {code}); every rank "
                                   "was stopped")
    return code


def quiet_rank() -> bool:
    """Whether this process is a rank other than 0 of an MPI run (it neither prints nor writes)."""
    return launched_size() > 1 and launched_rank() > 0
