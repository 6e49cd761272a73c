"""Network files whose ids or counts no chip or memory holds are refused in one line, before allocating."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import neuroemu.networks.sizes as sizes
from neuroemu.cli import main
from neuroemu.errors import CapacityError, ConfigError
from neuroemu.networks.edgelist import load_network
from neuroemu.networks.sizes import INPUT_BYTES, MAX_IDS, NEURON_BYTES, check_count, format_bytes


def _one_line_error(*args: str) -> str:
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output and isinstance(r.exception, SystemExit)  # a ClickException's exit, no crash
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.output
    return lines[0]


def test_the_per_neuron_bytes_are_the_arrays_a_reader_builds():
    # six float64 arrays (decay, i_decay, threshold, v_reset, bias, i_bias) and one bool (reset_subtract)
    assert NEURON_BYTES == 6 * 8 + 1 and INPUT_BYTES == 8
    assert MAX_IDS == 2 ** 20 * 65536  # ChipSpec.cores <= 2**20, CoreSpec.neurons <= 65,536


def test_an_npz_whose_ids_reach_2_to_the_40_is_refused_in_one_line(tmp_path):
    path = tmp_path / "huge.npz"
    np.savez(path, src=np.array([0, 1]), dst=np.array([1, 2 ** 40]), weight=np.array([1.0, 1.0]))
    line = _one_line_error("run", "loihi", str(path))
    count = 2 ** 40 + 1
    assert line == (f"Error: {path}: dst: largest id {2 ** 40:,} means {count:,} neurons, whose arrays need at least "
                    f"{format_bytes(count * NEURON_BYTES)}: more neurons than the largest chip can have ({MAX_IDS:,})")
    assert "49.0 TiB" in line


def test_a_csv_with_id_99999999999_is_refused_in_one_line(tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text("src,dst,weight\n0,1,0.5\n99999999999,2,1.0\n")
    line = _one_line_error("run", "loihi", str(path))
    assert f"{path}: src: largest id 99,999,999,999 means 100,000,000,000 neurons" in line
    assert format_bytes(10 ** 11 * NEURON_BYTES) in line and "4.5 TiB" in line
    r = CliRunner().invoke(main, ["validate", str(path)])  # one line per file, then the count
    assert r.exit_code == 1 and r.output.splitlines() == [f"error {line[len('Error: '):]}", "Error: 1 of 1 files invalid"]


def test_counts_and_input_ids_are_checked_too(tmp_path):
    base = dict(src=np.array([0]), dst=np.array([1]), weight=np.array([1.0]))
    np.savez(tmp_path / "n.npz", **base, n_neurons=np.array(10 ** 12))
    np.savez(tmp_path / "i.npz", **base, input_ids=np.array([5, 2 ** 50]), input_times=np.array([0, 1]))
    np.savez(tmp_path / "s.npz", src=np.array([2 ** 45]), dst=np.array([1]), weight=np.array([1.0]),
             src_input=np.array([1]))
    for name, array, what, top in (("n.npz", "n_neurons", "neurons", 10 ** 12 - 1), ("i.npz", "input_ids", "inputs", 2 ** 50),
                                   ("s.npz", "src", "inputs", 2 ** 45)):
        with pytest.raises(CapacityError, match=f"{name}: {array}: largest id {top:,} means {top + 1:,} {what}"):
            load_network(tmp_path / name)


def test_ids_that_fit_a_chip_but_not_the_memory_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(sizes, "available_memory_bytes", lambda: 64 * 2 ** 20)  # a 64 MiB machine
    path = tmp_path / "big.npz"
    np.savez(path, src=np.array([0]), dst=np.array([2_000_000]), weight=np.array([1.0]))
    line = _one_line_error("run", "loihi", str(path))
    assert line.endswith(f"whose arrays need at least {format_bytes(2_000_001 * NEURON_BYTES)}, "
                         "but only 64.0 MiB of memory is available")
    # 0.8 x 64 MiB holds a million neurons' arrays (46.7 MiB): read as before
    np.savez(path, src=np.array([0]), dst=np.array([999_999]), weight=np.array([1.0]))
    assert load_network(path).n_neurons == 1_000_000


def test_check_count_passes_what_fits_and_names_what_does_not(monkeypatch):
    monkeypatch.setattr(sizes, "available_memory_bytes", lambda: 1000)
    check_count("f", "dst", 9, "neurons", 80)  # 800 bytes <= 0.8 x 1000
    with pytest.raises(CapacityError, match=r"^f: dst: largest id 10 means 11 neurons, whose arrays need at least "
                                            r"880 bytes, but only 1000 bytes of memory is available$"):
        check_count("f", "dst", 10, "neurons", 80)


def test_a_nir_input_node_declaring_a_trillion_inputs_is_refused():
    nir = pytest.importorskip("nir")  # the test extra installs it
    from neuroemu.networks.nir import load_nir
    graph = nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([10 ** 12])), "w": nir.Linear(weight=np.ones((2, 3))),
                                "if": nir.IF(r=np.ones(2), v_threshold=np.ones(2)),
                                "out": nir.Output(output_type=np.array([2]))},
                         edges=[("in", "w"), ("w", "if"), ("if", "out")], type_check=False)
    with pytest.raises(CapacityError, match=f"g: node 'in' \\(input\\): largest id {10 ** 12 - 1:,} means "
                                            f"{10 ** 12:,} inputs, whose arrays need at least 36.4 TiB: more inputs"):
        load_nir(graph, dt=1e-3, name="g")


def test_format_bytes():
    assert [format_bytes(n) for n in (0, 1023, 1024, 1.5 * 2 ** 30, 49 * 2 ** 40, 2 ** 70)] == \
        ["0 bytes", "1023 bytes", "1.0 KiB", "1.5 GiB", "49.0 TiB", "1024.0 EiB"]


def test_ids_beyond_a_given_count_are_the_readers_error_not_an_allocation(tmp_path):
    # the neuron arrays fix the count at 2: a large dst is out of range, and nothing is sized by it
    path = tmp_path / "given.npz"
    np.savez(path, src=np.array([0]), dst=np.array([2 ** 40]), weight=np.array([1.0]), decay=np.ones(2))
    with pytest.raises(ConfigError, match="given.npz: dst: ids must be < 2 neurons") as info:
        load_network(path)
    assert not isinstance(info.value, CapacityError)


def test_a_float_count_is_checked_like_an_integer_one(tmp_path):
    path = tmp_path / "f.npz"
    np.savez(path, src=np.array([0]), dst=np.array([1]), weight=np.array([1.0]), n_neurons=np.array(1e12))
    with pytest.raises(CapacityError, match=f"f.npz: n_neurons: largest id {10 ** 12 - 1:,} means {10 ** 12:,} neurons"):
        load_network(path)


def _compressed_bomb(path, shape):
    """A tiny .npz whose one array's header declares ``shape`` (int64): the data is not all there."""
    import zipfile
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("src.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<i8", "fortran_order": False, "shape": shape})
            f.write(b"\0" * 4096)


def test_a_compressed_npz_that_expands_past_memory_is_refused_from_its_headers(tmp_path, monkeypatch):
    monkeypatch.setattr(sizes, "available_memory_bytes", lambda: 1 << 30)  # 1 GiB
    path = tmp_path / "bomb.npz"
    _compressed_bomb(path, (1 << 28,))  # 2 GiB of int64 in a file of about a kilobyte
    assert path.stat().st_size < 10_000
    with pytest.raises(CapacityError, match=r"bomb.npz: src: the file's arrays expand to 2.0 GiB \(2.0 GiB in 'src'\), "
                                            r"but only 1.0 GiB of memory is available"):
        load_network(path)


def test_an_npz_within_memory_passes_the_header_check(tmp_path, monkeypatch):
    monkeypatch.setattr(sizes, "available_memory_bytes", lambda: 1 << 30)
    path = tmp_path / "small.npz"
    _compressed_bomb(path, (1 << 20,))  # 8 MiB: passes the size check, then the reader finds it truncated
    with pytest.raises(ConfigError, match="small.npz: not a readable .npz file"):
        load_network(path)
