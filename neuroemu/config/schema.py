"""The frozen, validated description of a chip and of a workload.

These classes are descriptions only (DESIGN style rule 3): the engine that runs
them is built from them in :mod:`neuroemu.hardware.chip`. Each field states its
rule; :mod:`neuroemu.config.loader` turns YAML into these objects and reports
any broken rule with the file and key path.

Units are in the key names: ``_pj`` picojoules, ``_ns`` nanoseconds, ``_s``
seconds, ``_mw`` milliwatts, ``_mm`` millimetres, ``_hz`` hertz.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from neuroemu.config.fields import Where, between, non_negative, positive, spec_field

# --- physical constants with their source ---------------------------------------------------


@dataclass(frozen=True)
class Sourced:
    """A physical constant and where it comes from (paper, table, conditions).

    In YAML either a bare number (a user's own figure, no source) or
    ``{value: 2.3, source: "Akopyan 2015 ..."}``. Shipped chips must give a
    source for every constant (checked by ``neuroemu validate --require-sources``).
    """

    value: float
    source: str | None = None

    @classmethod
    def from_value(cls, data: Any, where: Where) -> "Sourced":
        """Accept a number or a ``{value, source}`` mapping; energies and latencies are >= 0."""
        from neuroemu.config.fields import convert
        if isinstance(data, dict):
            unknown = set(data) - {"value", "source"}
            if unknown:
                raise where.child(sorted(unknown)[0]).error("unknown key; valid keys here: source, value")
            if "value" not in data:
                raise where.child("value").error("is required")
            value = convert(float, data["value"], where.child("value"))
            source = data.get("source")
            if source is not None and (not isinstance(source, str) or not source.strip()):
                raise where.child("source").error("must be a non-empty string", source)
        else:
            value = convert(float, data, where)
            source = None
        if value < 0:
            raise where.error("must be >= 0 (energies, powers and latencies cannot be negative)", value)
        return cls(value, source)

    def to_plain(self) -> Any:
        """Plain form: the bare number, or a mapping when a source is given."""
        return self.value if self.source is None else {"value": self.value, "source": self.source}


ZERO = Sourced(0.0, None)

#: the largest accepted constants: far above any chip, small enough that int64 picoseconds and
#: float sums stay exact and finite
MAX_LATENCY_NS = 1e9      # one second per operation
MAX_ENERGY_PJ = 1e12      # one joule per event
MAX_POWER_MW = 1e9        # one megawatt


def sourced_at_most(limit: float):
    """Rule for a Sourced constant: value <= limit."""
    def check(v) -> str | None:
        values = v.values() if isinstance(v, dict) or hasattr(v, "values") and not isinstance(v, Sourced) else [v]
        for item in values:
            if item is not None and item.value > limit:
                return f"must be <= {limit:g}"
        return None
    return check


LAT = sourced_at_most(MAX_LATENCY_NS)
PJ_MAX = sourced_at_most(MAX_ENERGY_PJ)


# --- chip ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CoreSpec:
    """One neurosynaptic core: axons x neurons crossbar, weights by axon type, membrane width."""

    axons: int = spec_field(256, check=between(1, 65536), doc="axon rows of the crossbar")
    neurons: int = spec_field(256, check=between(1, 65536), doc="neuron columns of the crossbar (uint16 ids)")
    axon_types: int = spec_field(4, check=between(1, 16), doc="axon types G; one signed weight per neuron per type")
    membrane_bits: int = spec_field(20, check=between(2, 31), doc="signed saturating membrane width")
    weight_bits: int = spec_field(9, check=between(1, 16), doc="signed weight width")
    max_delay_ticks: int = spec_field(15, check=between(1, 63), doc="longest axonal delay in ticks")
    neuron_model: str = spec_field("truenorth_lif", doc="name in the neuron model registry")


@dataclass(frozen=True)
class TopologySpec:
    """The router graph between cores (see neuroemu.hardware.topology for the kinds)."""

    kind: str = spec_field("mesh", doc="mesh, torus, htree, tree or custom")
    width: int | None = spec_field(None, check=positive, doc="routers in x (mesh, torus)")
    height: int | None = spec_field(None, check=positive, doc="routers in y (mesh, torus)")
    radix: int = spec_field(4, check=between(2, 64), doc="children per router (tree)")
    concentration: int = spec_field(1, check=between(1, 64), doc="cores per router")
    pitch_mm: float = spec_field(1.0, check=lambda v: None if 0 < v <= 1000 else "must be > 0 and at most 1000 mm",
                                 doc="distance between neighbouring cores (wire lengths are counted in integer nm)")
    custom_path: str | None = spec_field(None, doc="edge list (CSV) or GraphML file for kind custom")
    bandwidth_pkts_per_ns: float = spec_field(1.0, check=positive, doc="link bandwidth")


@dataclass(frozen=True)
class TimingSpec:
    """Tick semantics (a window policy of the one event loop) and their parameters.

    ``sync``: the window is one tick; ``gals``: spikes travel inside the tick and one arriving
    after its delivery tick began is a timing violation (``late_spikes``: drop it or deliver it
    at the next tick boundary); ``barrier``: a timestep lasts as long as its busiest core's work
    plus the network drain plus the barrier sync (``barrier_ns`` + ``barrier_per_router_ns`` x
    (routers - 1)); ``async``: no clock, continuous time in lookahead windows.
    """

    mode: Literal["sync", "gals", "barrier", "async"] = spec_field("sync", doc="tick semantics")
    tick_s: float = spec_field(1e-3, check=between(1e-9, 10.0), doc="global tick period (sync, gals)")
    late_spikes: Literal["drop", "late"] = spec_field("drop", doc="gals: what happens to a late spike")
    barrier_ns: Sourced = spec_field(ZERO, check=LAT, doc="barrier: sync latency of a one-router chip")
    barrier_per_router_ns: Sourced = spec_field(ZERO, check=LAT, doc="barrier: added sync latency per extra router")


@dataclass(frozen=True, kw_only=True)
class EnergySpec:
    """Energy per counted event, plus static power. Every term is counted, never a headline figure.

    The five main terms are required: a term that a chip folds into another is written
    as 0 with a source saying where it went, so no energy is left out by accident.
    """

    synaptic_op_pj: Sourced = spec_field(check=PJ_MAX, doc="one synaptic operation (SOP)")
    neuron_update_pj: Sourced = spec_field(check=PJ_MAX, doc="one neuron update (per neuron per tick)")
    neuron_update_active_pj: Sourced | None = spec_field(
        None, check=PJ_MAX, doc="update of a neuron that integrated input or fired (default: neuron_update_pj)")
    spike_pj: Sourced = spec_field(check=PJ_MAX, doc="one spike generated (injection into the network)")
    hop_pj: Sourced = spec_field(check=PJ_MAX, doc="one spike packet crossing one router-to-router link")
    packet_pj: Sourced = spec_field(
        ZERO, check=PJ_MAX, doc="one packet (message) sent to a destination core, beside hop_pj per link crossed")
    wire_pj_per_mm: Sourced = spec_field(ZERO, check=PJ_MAX, doc="a packet moving one mm along a link (on top of hop_pj)")
    learning_update_pj: Sourced = spec_field(ZERO, check=PJ_MAX, doc="one synaptic weight update (e.g. pairwise STDP)")
    potentiation_pj: Sourced | None = spec_field(None, check=PJ_MAX, doc="a potentiating update (default: learning_update_pj)")
    depression_pj: Sourced | None = spec_field(None, check=PJ_MAX, doc="a depressing update (default: learning_update_pj)")
    hop_class_pj: dict[str, Sourced] | None = spec_field(
        None, check=PJ_MAX, doc="per link class overrides of hop_pj, e.g. {x: 3.0, y: 4.0}")
    static_mw: Sourced = spec_field(check=sourced_at_most(MAX_POWER_MW),
                                    doc="static power (leakage, and any clock not priced per core tick)")
    clock_pj_per_core_tick: Sourced = spec_field(
        ZERO, check=PJ_MAX, doc="clock distribution of one core for one tick (sync: every core every tick; "
                                "gals: only cores with work in the tick; barrier, async: none)")
    handshake_pj: Sourced = spec_field(
        ZERO, check=PJ_MAX, doc="one asynchronous handshake (gals, barrier, async: per delivered spike and per "
                                "hop, on top of hop_pj; barrier also one per router per timestep)")

    def hop_energy(self, class_name: str) -> float:
        """Energy in pJ of one hop over a link of the named class."""
        if self.hop_class_pj and class_name in self.hop_class_pj:
            return self.hop_class_pj[class_name].value
        return self.hop_pj.value

    def update_active_energy(self) -> float:
        """Energy in pJ of an active neuron update."""
        active = self.neuron_update_active_pj
        return self.neuron_update_pj.value if active is None else active.value


@dataclass(frozen=True)
class LatencySpec:
    """Latency per operation (pairs with EnergySpec, SANA-FE style)."""

    hop_ns: Sourced = spec_field(Sourced(1.0), check=LAT, doc="one router-to-router link, zero load")
    hop_class_ns: dict[str, Sourced] | None = spec_field(None, check=LAT, doc="per link class overrides of hop_ns")
    synaptic_op_ns: Sourced = spec_field(ZERO, check=LAT, doc="one synaptic operation")
    neuron_update_ns: Sourced = spec_field(ZERO, check=LAT, doc="one neuron update")
    neuron_update_active_ns: Sourced | None = spec_field(None, check=LAT, doc="an active neuron update (default: neuron_update_ns)")
    spike_ns: Sourced = spec_field(ZERO, check=LAT, doc="generating and injecting one spike")
    learning_update_ns: Sourced = spec_field(ZERO, check=LAT, doc="one synaptic weight update")



def sourced_between(lo: float, hi: float):
    """Rule for a Sourced constant: lo <= value <= hi."""
    def check(v) -> str | None:
        return None if lo <= v.value <= hi else f"must be between {lo:g} and {hi:g}"
    return check


@dataclass(frozen=True)
class SynapseDeviceSpec:
    """Non-volatile synapses as devices (docs/devices.md, :mod:`neuroemu.hardware.devices`).

    A signed weight w of ``core.weight_bits`` is a differential pair of cells (G+ - G-), each
    programmed to one of 2**level_bits conductance levels between G_min = G_max / on_off_ratio
    and G_max. Conductances are in units of G_max. Programming noise (fixed at programming), PCM
    drift G(t) = G0 (t / t0)**-nu and stuck cells turn each programmed weight into the weight the
    crossbar reads, rounded to the weight LSB; read noise adds a fresh draw per read; a learning
    run wears the cells (``endurance_writes``). The column periphery: an ADC of ``adc_bits`` per
    column (energy ``adc_fom_pj`` x 2**adc_bits per conversion) and a word-line driver per active
    row (``dac_pj_per_row``). All zeros (or no section) is the ideal, digital crossbar.
    """

    technology: str = spec_field("ideal", doc="free text: rram, pcm, ... (reports only)")
    level_bits: int | None = spec_field(
        None, check=between(1, 15), doc="conductance levels per cell = 2**level_bits (default: weight_bits - 1, the "
                                        "magnitude of a signed weight)")
    on_off_ratio: Sourced | None = spec_field(
        None, check=lambda v: None if 1.0 < v.value <= 1e9 else "must be > 1 and at most 1e9",
        doc="G_max / G_min of one cell (default: infinite, G_min = 0)")
    programming_noise: Sourced = spec_field(
        ZERO, check=sourced_between(0.0, 1.0), doc="device-to-device: std of a programmed conductance / G_max")
    programming_noise_poly: tuple[float, ...] | None = spec_field(
        None, check=lambda v: None if 1 <= len(v) <= 4 else "must have 1 to 4 coefficients",
        doc="instead of programming_noise: its std as a polynomial c0 + c1 g + c2 g^2 ... of the target g = G / G_max "
            "(units of G_max; aihwkit's PCM fit); give the source in a comment")
    read_noise: Sourced = spec_field(
        ZERO, check=sourced_between(0.0, 1.0), doc="cycle-to-cycle: std of one read of a cell / G_max (each read anew)")
    drift_nu: Sourced = spec_field(ZERO, check=sourced_between(0.0, 1.0), doc="mean drift exponent nu (0..1)")
    drift_nu_std: Sourced = spec_field(ZERO, check=sourced_between(0.0, 1.0), doc="cell-to-cell std of nu")
    drift_t0_s: Sourced = spec_field(Sourced(1.0), check=sourced_between(1e-9, 1e9),
                                     doc="t0 of the drift law: the first read after programming")
    stuck_on_fraction: Sourced = spec_field(ZERO, check=sourced_between(0.0, 1.0), doc="cells stuck at G_max")
    stuck_off_fraction: Sourced = spec_field(ZERO, check=sourced_between(0.0, 1.0), doc="cells stuck at G_min")
    endurance_writes: Sourced | None = spec_field(
        None, check=sourced_between(1.0, 1e18), doc="learning: write pulses a cell takes before it sticks at its "
                                                     "conductance after the last (default: unlimited)")
    ltp_nonlinearity: Sourced | None = spec_field(
        None, check=lambda v: None if 1e-3 <= v.value <= 1e6 else "must be between 0.001 and 1e6",
        doc="learning: A / P_max of NeuroSim's exponential potentiation curve (small: strongly non-linear; "
            "default: linear steps)")
    ltd_nonlinearity: Sourced | None = spec_field(
        None, check=lambda v: None if 1e-3 <= v.value <= 1e6 else "must be between 0.001 and 1e6",
        doc="learning: A / P_max of the depression curve (default: linear steps)")
    adc_bits: int | None = spec_field(None, check=between(1, 32),
                                      doc="ADC resolution per column (default: none, the column sum is digital)")
    adc_full_scale: int | None = spec_field(
        None, check=between(1, 1 << 40), doc="ADC full scale in weight LSBs (default: the largest column sum, "
                                             "axons x largest weight)")
    adc_fom_pj: Sourced = spec_field(ZERO, check=PJ_MAX, doc="ADC figure of merit: energy per conversion step")
    dac_pj_per_row: Sourced = spec_field(ZERO, check=PJ_MAX, doc="word-line drive of one active row for one read")

    def validate(self, where: Where) -> None:
        """Cross-field rule: stuck-on and stuck-off fractions together at most 1."""
        if self.stuck_on_fraction.value + self.stuck_off_fraction.value > 1.0:
            raise where.child("stuck_off_fraction").error(
                "stuck_on_fraction + stuck_off_fraction must be <= 1",
                self.stuck_on_fraction.value + self.stuck_off_fraction.value)

    def adc_conversion_pj(self) -> float:
        """Energy of one ADC conversion: FOM x 2**bits (0 without an ADC)."""
        return 0.0 if self.adc_bits is None else self.adc_fom_pj.value * float(1 << self.adc_bits)


# --- systems of chips (issue 17): kept apart from the per-chip energy fields -------------------


@dataclass(frozen=True, kw_only=True)
class SystemLinkSpec:
    """A chip-to-chip link (one hop between routers of neighbouring chips): its own link class."""

    hop_pj: Sourced = spec_field(check=PJ_MAX, doc="one spike packet crossing one chip-to-chip link")
    hop_ns: Sourced = spec_field(check=LAT, doc="one chip-to-chip link, zero load")
    bandwidth_pkts_per_ns: float = spec_field(1.0, check=positive, doc="chip-to-chip link bandwidth")


@dataclass(frozen=True, kw_only=True)
class SystemSpec:
    """A 2D grid of identical mesh chips whose meshes join across chip edges into one mesh.

    The routers on facing edges of neighbouring chips are linked (TrueNorth's merge/split
    ports, Loihi's chip-to-chip mesh links); those links form the link class ``chip`` with
    their own energy and latency. A system file gives them in ``link``; the joined chip it
    expands to (the one the engine, records and sweeps see) holds them where every link
    class's are, ``energy.hop_class_pj.chip`` and ``latency.hop_class_ns.chip``, with the
    cores, mesh and static power already multiplied out and the chip kept by name.
    """

    chip: str = spec_field(doc="the chip repeated: a shipped chip's name or a chip file")
    grid: tuple[int, int] = spec_field(doc="chips in x and in y")
    link: SystemLinkSpec | None = spec_field(
        None, doc="system files: the chip-to-chip links (expanded into energy.hop_class_pj.chip, "
                  "latency.hop_class_ns.chip and bandwidth_pkts_per_ns)")
    bandwidth_pkts_per_ns: float = spec_field(1.0, check=positive, doc="chip-to-chip link bandwidth")
    board_static_mw: Sourced = spec_field(ZERO, check=sourced_at_most(MAX_POWER_MW),
                                          doc="board power beside the chips' own (system files; "
                                              "a joined chip has it in energy.static_mw)")

    @property
    def n_chips(self) -> int:
        """Chips in the system."""
        return self.grid[0] * self.grid[1]

    def validate(self, where: Where) -> None:
        """The grid is at least one chip each way (and not absurdly large)."""
        for i, v in enumerate(self.grid):
            if not 1 <= v <= 1024:
                raise where.child("grid").child(i).error("must be between 1 and 1024 chips", v)

    def check_chip(self, chip: "ChipSpec", where: Where) -> None:
        """The joined chip is a mesh whose width and height the grid divides."""
        topo = chip.topology
        if self.link is not None:
            raise where.child("system").child("link").error(
                "a joined chip (one with cores) prices its chip links in energy.hop_class_pj.chip and "
                "latency.hop_class_ns.chip; link belongs in system files")
        if topo.kind != "mesh":
            raise where.child("topology").child("kind").error("a system joins mesh chips only", topo.kind)
        gx, gy = self.grid
        if topo.width % gx or topo.height % gy:
            raise where.child("system").child("grid").error(
                f"must divide the joined mesh ({topo.width} x {topo.height})", list(self.grid))


@dataclass(frozen=True, kw_only=True)
class ChipSpec:
    """A whole chip: cores, their router graph, tick semantics, energy and latency per event."""

    name: str = spec_field(doc="short name")
    description: str = spec_field("", doc="one line for `neuroemu chips`")
    cores: int = spec_field(doc="number of neurosynaptic cores", check=between(1, 1 << 20))
    core: CoreSpec = spec_field(default_factory=CoreSpec)
    topology: TopologySpec = spec_field(default_factory=TopologySpec)
    timing: TimingSpec = spec_field(default_factory=TimingSpec)
    energy: EnergySpec = spec_field(doc="energy per event type (required)")
    latency: LatencySpec = spec_field(default_factory=LatencySpec)
    synapse_device: SynapseDeviceSpec | None = spec_field(
        None, doc="non-volatile synapses as devices: levels, noise, drift, stuck cells, ADC/DAC (docs/devices.md)")
    notes: str = spec_field("", doc="free text: conditions, caveats")
    system: SystemSpec | None = spec_field(None, doc="a system of chips joined into one mesh (see SystemSpec)")
    #: the file it was read from (relative paths inside it resolve against its folder)
    source: str = field(default="", init=False, compare=False, repr=False)

    @property
    def neurons(self) -> int:
        """Neurons on the whole chip."""
        return self.cores * self.core.neurons

    def validate(self, where: Where) -> None:
        """Cross-field rules: mesh dimensions must hold the cores.

        A custom router graph's file is relative to the chip file: it is made absolute here, so
        the chip (and a record's config) names the same file from any working directory.
        """
        object.__setattr__(self, "source", where.file)
        topo = self.topology
        if topo.custom_path is not None:
            topo = replace(topo, custom_path=beside_config_file(topo.custom_path, where.file))
            object.__setattr__(self, "topology", topo)
        if topo.kind in ("mesh", "torus"):
            if topo.width is None or topo.height is None:
                raise where.child("topology").error(f"{topo.kind} needs width and height")
            if topo.width * topo.height * topo.concentration != self.cores:
                raise where.child("topology").error(
                    f"width x height x concentration must equal cores ({self.cores})",
                    f"{topo.width} x {topo.height} x {topo.concentration}")
        if self.system is not None:
            self.system.check_chip(self, where)


# --- workload ------------------------------------------------------------------------------

@dataclass(frozen=True)
class NetworkSpec:
    """A generated network (TrueNorth-style random recurrent, see neuroemu.networks.workloads), or a
    network read from a file and mapped onto the chip (kinds ``nir`` and ``edgelist``, see
    neuroemu.networks.compile): ``file`` and the keys after it apply to those only."""

    kind: str = spec_field("random_recurrent", doc="name in the network generator registry")
    cores: int | None = spec_field(None, check=positive, doc="cores used (default: all)")
    neurons_per_core: int | None = spec_field(None, check=positive, doc="default: the core's size")
    synapses_per_axon: int = spec_field(128, check=non_negative, doc="active synapses in each axon row")
    rate_hz: float = spec_field(20.0, check=non_negative, doc="spontaneous firing rate set by the leak")
    stochastic: bool = spec_field(True, doc="stochastic leak (as on the chip) or deterministic")
    weights: tuple[int, ...] = spec_field((1, 1, -1, -1), doc="signed weight of each axon type")
    threshold: int | None = spec_field(None, check=positive, doc="default: derived from rate_hz")
    reset: Literal["linear", "zero", "none"] = spec_field("linear", doc="reset mode after a spike")
    delay_ticks: tuple[int, int] = spec_field((1, 1), doc="axonal delay range [lo, hi] in ticks")
    recurrent_fraction: float = spec_field(1.0, check=between(0.0, 1.0), doc="neurons with an output")
    crossbar: Literal["balanced", "random"] = spec_field(
        "balanced", doc="balanced: every neuron gets as many inputs of each axon type; random: rows drawn alone")
    neuron: dict[str, float] | None = spec_field(
        None, doc="model-specific neuron parameters, checked by the chip's neuron model")
    file: str | None = spec_field(None, doc="nir / edgelist: the network file (relative to the workload file)")
    dt: float | None = spec_field(None, check=positive,
                                  doc="nir: the tick in the graph's time unit (default: the exporter's, if it has one)")
    exporter: Literal["auto", "nir", "snntorch", "norse", "sinabs"] = spec_field(
        "auto", doc="nir: the framework that wrote the graph, whose conventions it is read by (auto: as the file shows)")
    input_spikes: str | None = spec_field(
        None, doc="file kinds: npz of input spike trains (times, ids), replacing the file's own")
    method: Literal["euler", "exact"] | None = spec_field(
        None, doc="nir: how time constants become decays (default: the exporter's, euler)")
    neuron_reset: Literal["file", "zero", "subtract"] = spec_field(
        "file", doc="file kinds: reset after a spike (file: as the network file says)")
    mapping: Literal["pack", "spread", "locality", "given"] = spec_field(
        "locality", doc="file kinds: how neurons are placed on cores (given: on the cores the file's core array names)")
    weight_scale: Literal["auto", "keep"] = spec_field(
        "auto", doc="file kinds: auto scales weights to the chip's range; keep stores integer weights as given")
    keep_zero_weights: bool = spec_field(
        False, doc="file kinds: a synapse of weight 0 stays a synapse (and costs its synaptic operation)")
    inputs: Literal["axons", "on_cores"] = spec_field(
        "axons", doc="file kinds: input spikes arrive as axon events, or are sent by sources on cores (packets and hops counted)")
    axon_copies: int | None = spec_field(
        None, check=between(1, 16), doc="TrueNorth: axons per source and core for multi-bit weights (default: most that fit)")

    def validate(self, where: Where) -> None:
        """Delays must be an ordered range starting at >= 1; file kinds need their file (nir: dt)."""
        lo, hi = self.delay_ticks
        if not 1 <= lo <= hi:
            raise where.child("delay_ticks").error("must be [lo, hi] with 1 <= lo <= hi", list(self.delay_ticks))
        if self.kind in FILE_KINDS and self.file is None:
            raise where.child("file").error(f"network kind {self.kind!r} reads its network from a file: give file")
        if self.inputs == "on_cores" and self.kind not in FILE_KINDS:  # never silently ignored
            raise where.child("inputs").error(f"on_cores places a network file's inputs on cores; a {self.kind} "
                                              "network's inputs arrive as axon events: remove inputs", self.inputs)
        if self.kind == "nir" and self.dt is None and self.exporter == "nir":
            raise where.child("dt").error("a NIR graph needs the tick length dt (in the graph's time unit): give dt "
                                          "(--dt), or the exporter whose dt it is (exporter, --from snntorch|norse)")


def beside_config_file(path: str | None, config_file: str) -> str | None:
    """``path`` made absolute relative to the config file's folder, when a file is there; else as given."""
    if path is None or Path(path).is_absolute() or not config_file or config_file.startswith("<"):
        return path
    beside = Path(config_file).resolve().parent / path
    try:
        return str(beside) if beside.exists() else path
    except (OSError, ValueError):  # a name no file can have: reading it reports the error
        return path


#: network kinds read from a file and mapped onto the chip (neuroemu.networks.compile)
FILE_KINDS = ("nir", "edgelist")


@dataclass(frozen=True)
class ClassifySpec:
    """Present a data set one sample at a time and read the winning output (neuroemu.networks.presentation).

    Each sample's input rates (spikes per tick) drive the network's inputs for
    ``present_ticks``; ``settle_ticks`` more let the last spikes reach the outputs; then every
    neuron's state (membrane, current, refractory count) is reset for the next sample, and the
    spikes still in flight are dropped (they paid for their routes, and reach no synapse), so each
    sample runs as if alone: settle for the network's depth times its delays to count the last
    layer's answer. The answer is the output neuron with the most spikes (ties: the higher membrane
    potential at the end).
    """

    dataset: str = spec_field(doc="npz with rates [samples, inputs] (spikes per tick) and labels [samples]")
    present_ticks: int = spec_field(32, check=between(1, 10 ** 6), doc="ticks each sample is shown")
    settle_ticks: int = spec_field(2, check=between(0, 10 ** 6), doc="ticks without input before the reset")
    samples: int | None = spec_field(None, check=positive, doc="the first N samples (default: all)")
    output_group: str | None = spec_field(None, doc="the group read out (default: the network's outputs)")

    @property
    def period(self) -> int:
        """Ticks per sample."""
        return self.present_ticks + self.settle_ticks


@dataclass(frozen=True)
class InputSpec:
    """Rate-coded (Poisson) input spike trains onto axons."""

    kind: Literal["poisson"] = spec_field("poisson")
    rate_hz: float = spec_field(10.0, check=non_negative, doc="rate per input axon")
    axons_per_core: int = spec_field(16, check=positive, doc="input axons on each used core (the first ones)")
    cores: int | None = spec_field(None, check=positive, doc="cores receiving input (default: all used)")
    start_tick: int = spec_field(0, check=non_negative)
    stop_tick: int | None = spec_field(None, check=non_negative, doc="default: the end of the run")


@dataclass(frozen=True)
class LearningSpec:
    """A synaptic learning rule run every tick (its updates are counted and charged)."""

    rule: Literal["stdp"] = spec_field("stdp", doc="name in the learning rule registry")
    a_plus: float = spec_field(1.0, doc="largest potentiation (weight units)")
    a_minus: float = spec_field(1.0, doc="largest depression (weight units)")
    tau_plus_ticks: float = spec_field(20.0, doc="potentiation time constant")
    tau_minus_ticks: float = spec_field(20.0, doc="depression time constant")
    w_min: float = spec_field(-255.0, doc="lowest weight")
    w_max: float = spec_field(255.0, doc="highest weight")
    window_ticks: int | None = spec_field(None, doc="skip pairs further apart than this")

    def params(self) -> dict:
        """The rule's parameters as keywords."""
        d = {k: getattr(self, k) for k in ("a_plus", "a_minus", "tau_plus_ticks", "tau_minus_ticks", "w_min", "w_max")}
        if self.window_ticks is not None:
            d["window_ticks"] = self.window_ticks
        return d


@dataclass(frozen=True, kw_only=True)
class WorkloadSpec:
    """A spiking workload: a generated network, its inputs, the run length and seed."""

    name: str = spec_field(doc="short name")
    description: str = spec_field("")
    chip: str | None = spec_field(None, doc="the chip it is meant for (a shipped name or a path)")
    ticks: int = spec_field(100, check=between(1, 10 ** 9), doc="run length in ticks")
    seed: int = spec_field(1, check=non_negative, doc="master seed")
    network: NetworkSpec = spec_field(default_factory=NetworkSpec)
    inputs: tuple[InputSpec, ...] = spec_field(())
    record_spikes: bool = spec_field(False, doc="keep the spike trains (sparse) in the record")
    learning: LearningSpec | None = spec_field(None, doc="a learning rule (e.g. pairwise STDP)")
    classify: ClassifySpec | None = spec_field(None, doc="present a data set sample by sample, read the answers")
    time_after_programming_s: float | None = spec_field(
        None, check=between(0.0, 1e10), doc="NVM synapses: seconds since the weights were programmed (drift)")
    #: the file it was read from (for error messages); not part of the description
    source: str = field(default="", init=False, compare=False, repr=False)

    def validate(self, where: Where) -> None:
        """Remember the file name so later errors (fit to a chip) can name it.

        Files the workload names (a network, its input spikes, a data set) are relative to the
        workload file: they are made absolute here, so the spec (and a record's config, and a
        sweep's resolved spec) names the same files from any working directory.
        """
        object.__setattr__(self, "source", where.file)
        net = self.network
        if net.file is not None or net.input_spikes is not None:
            object.__setattr__(self, "network", replace(
                net, file=beside_config_file(net.file, where.file),
                input_spikes=beside_config_file(net.input_spikes, where.file)))
        if self.classify is not None:
            if net.kind not in FILE_KINDS:
                raise where.child("classify").error(
                    f"presents a data set to a network read from a file (network.kind {' or '.join(FILE_KINDS)}), "
                    f"not to a generated {net.kind!r} network")
            if net.input_spikes is not None:
                raise where.child("classify").error("the data set drives the inputs: give classify or "
                                                    "network.input_spikes, not both")
            object.__setattr__(self, "classify", replace(
                self.classify, dataset=beside_config_file(self.classify.dataset, where.file)))

    @property
    def where(self) -> str:
        """The name errors use for this workload: its file, else its name."""
        return self.source or self.name

