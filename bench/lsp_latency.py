"""Language-server latency: from an edit of a 300-line spec to its diagnostics.

Starts `cramnet lsp` as an editor does (a subprocess over stdio, driven by pygls's client), opens a
generated 300-line spec (user blocks, a `use`d standard-library block, residuals, ~100 bindings)
and then alternates two edits: a typo that makes an unknown block (one diagnostic) and its fix (no
diagnostics). Each edit is timed from sending `didChange` to receiving `publishDiagnostics`, which
includes the server's pause for the next keystroke (`PAUSE_S`). The analysis alone (parse, check
every model, index names) is timed in this process too.

    python bench/lsp_latency.py              # 40 edits, ~30 s on a busy 2-core machine
    python bench/lsp_latency.py --edits 100 --lines 600
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lsprotocol import types  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402

from cramnet.lsp.analysis import analyze  # noqa: E402
from cramnet.lsp.server import PAUSE_S  # noqa: E402

HEADER = """\
use "std:ffn"

let d = 64
let classes = 10

block mixer(d, p = 0.1) {
    a = in -> layernorm -> dense(d) -> gelu
    b = in -> dense(d, bias = false)
    add(a, b) -> dropout(p)
}

block tower(d) {
    residual { layernorm -> dense(d) -> relu -> dense(d) }
    residual { layernorm -> ffn(d, mult = 2) }
}

model big {
    input x: [seq, 32]
    x -> dense(d) as h0
"""


def make_spec(lines: int) -> str:
    """A spec of about `lines` lines: bindings of 3 lines each, alternating plain stages, user blocks
    and a residual, ending in a classifier head."""
    body: list[str] = []
    i = 0
    while len(HEADER.split("\n")) + len(body) + 6 < lines:
        i += 1
        kind = i % 3
        if kind == 0:
            stages = ["layernorm", f"dense(d) -> relu as h{i}"]
        elif kind == 1:
            stages = ["mixer(d)", f"tower(d) as h{i}"]
        else:
            stages = ["residual { dense(d) -> gelu }", f"layernorm as h{i}"]
        body.append(f"    h{i - 1}")
        body += [f"      -> {stage}" for stage in stages]
    body += [f"    h{i} -> pool(mean) -> dense(classes) as logits", "    output logits", "}", ""]
    return HEADER + "\n".join(body)


async def measure(text: str, edits: int, path: Path) -> list[float]:
    client = LanguageClient("cramnet-bench", "1")
    published: asyncio.Queue[list[types.Diagnostic]] = asyncio.Queue()

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: types.PublishDiagnosticsParams) -> None:
        published.put_nowait(list(params.diagnostics))

    await client.start_io(sys.executable, "-m", "cramnet.cli", "lsp")
    await client.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities()))
    client.initialized(types.InitializedParams())
    uri = path.as_uri()
    item = types.TextDocumentItem(uri=uri, language_id="cram", version=1, text=text)
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))
    first = await published.get()
    assert not first, [d.message for d in first]
    times = []
    for version in range(2, edits + 2):
        # every text is new, so nothing is answered from a cache: a typo'd block, then a fixed file
        broken = version % 2 == 0
        if broken:
            edited = text.replace("-> pool(mean)", f"-> pool(mean) -> denes{version}(4)", 1)
        else:
            edited = text.replace("output logits", f"output logits  # edit {version}")
        document = types.VersionedTextDocumentIdentifier(uri=uri, version=version)
        change = types.TextDocumentContentChangeWholeDocument(text=edited)
        start = time.perf_counter()
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(text_document=document, content_changes=[change])
        )
        found = await published.get()
        times.append(time.perf_counter() - start)
        assert len(found) == (1 if broken else 0), [d.message for d in found]
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=300)
    parser.add_argument("--edits", type=int, default=40)
    options = parser.parse_args()
    text = make_spec(options.lines)
    path = Path("/tmp/cramnet_lsp_bench.cram")
    path.write_text(text)
    analyze(text, str(path))  # warm: imports and the block registry
    inline, cpu = [], []
    for i in range(20):
        edited = text.replace("output logits", f"output logits  # run {i}")
        start, start_cpu = time.perf_counter(), time.process_time()
        analysis = analyze(edited, str(path))
        inline.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    assert not analysis.errors, analysis.errors
    print(f"spec: {len(text.splitlines())} lines", file=sys.stderr)
    edits = asyncio.run(measure(text, options.edits, path))
    ms = sorted(t * 1000 for t in edits)
    print("| measure | median ms | p90 ms | max ms |\n| --- | --- | --- | --- |")
    print(
        f"| analysis in process (parse, check, index), {len(inline)} runs | {statistics.median(inline) * 1000:.0f} | "
        f"{sorted(inline)[int(0.9 * len(inline))] * 1000:.0f} | {max(inline) * 1000:.0f} |"
    )
    print(
        f"| the same, CPU time of this process (steady under a shared machine's load) | "
        f"{statistics.median(cpu) * 1000:.0f} | {sorted(cpu)[int(0.9 * len(cpu))] * 1000:.0f} | {max(cpu) * 1000:.0f} |"
    )
    print(
        f"| edit → diagnostics over stdio ({len(ms)} edits, includes the {PAUSE_S * 1000:.0f} ms pause) | "
        f"{statistics.median(ms):.0f} | {ms[int(0.9 * len(ms))]:.0f} | {ms[-1]:.0f} |"
    )
    print(
        f"\n{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
