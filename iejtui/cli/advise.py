"""``iejtui advise RUN``: what the advisor sees in a run, recorded or live (reads only)."""

from __future__ import annotations

import click

from iejtui.cli.common import Command, Ctx, emit_json
from iejtui.errors import UserError

def _print_rules(rules) -> None:
    for r in rules:
        state = "" if r.enabled else "  (disabled)"
        conds = " and ".join(c.text() for c in r.conds)
        click.echo(f"{r.id:<22} {r.severity:<8} for {r.for_s:>5g} s  {conds}  [{r.source}]{state}")


def _print(result: dict) -> None:
    from iejtui.advisor.text import result_lines
    run = result["run"]
    bits = [f"run {run['id']}  {run['kind']} {run['name']}"]
    if run.get("engine_run") and run["engine_run"] != run["id"]:
        bits.append(f"engine run {run['engine_run']}")
    bits.append(f"{len(run['gpus'])} GPU" + ("s" if len(run["gpus"]) != 1 else ""))
    click.echo("  ".join(bits))
    for line in result_lines(result):
        click.echo(line)


@click.command("advise", cls=Command)
@click.argument("run_ref", metavar="RUN", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print {run, bottleneck, signals, findings} as JSON.")
@click.option("--for", "for_", metavar="DURATION",
              help="Give every rule this for: duration (e.g. 5s), for short runs.")
@click.option("--rules", "list_rules", is_flag=True, help="List the rules (with this journal's overrides).")
@click.option("--prometheus-rules", "prom_out", metavar="FILE", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write the rules PromQL can express as a Prometheus alerting-rules file ('-': stdout).")
@click.option("--naming", type=click.Choice(["vllm", "iejtui"]), default="vllm", show_default=True,
              help="Series the rules file reads: a site's vllm:* and DCGM_FI_*, or iejtui's exporter.")
@click.pass_obj
def advise(obj: Ctx, run_ref: str | None, as_json: bool, for_: str | None, list_rules: bool,
           prom_out: str | None, naming: str) -> None:
    """Why a run is slow and which knob to turn: the advisor's rules over RUN (an id, rN or
    a name, as `runs show` takes it), with the same code the live service runs."""
    from iejtui.advisor.advise import advise_inputs, advise_json
    from iejtui.advisor.overrides import parse_duration, with_durations
    from iejtui.advisor.run_inputs import read_inputs
    from iejtui.config import advisor_rules, load_config
    rules = advisor_rules(load_config(obj.paths.config))
    if for_ is not None:
        rules = with_durations(rules, parse_duration(for_, "--for"))
    if prom_out is not None:
        from iejtui.advisor.promrules import expressible, rules_yaml
        text = rules_yaml(rules, naming)
        if prom_out == "-":
            click.echo(text, nl=False)
            return
        try:
            with open(prom_out, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise UserError(f"cannot write {prom_out}: {exc.strerror}") from None
        ok, left = expressible(rules, naming)
        click.echo(f"wrote {len(ok)} alerting rules to {prom_out} ({len(left)} not expressible in PromQL: "
                   f"{', '.join(r.id for r in left)}); check with `promtool check rules {prom_out}`")
        return
    if list_rules:
        if as_json:
            emit_json([{"id": r.id, "severity": r.severity, "for_s": r.for_s, "source": r.source,
                        "enabled": r.enabled, "conditions": [c.text() for c in r.conds]} for r in rules])
        else:
            _print_rules(rules)
        return
    if run_ref is None:
        raise UserError("name a run: iejtui advise RUN (see `iejtui runs`), or --rules to list the rules")
    from iejtui.store import Reader
    reader = Reader(obj.paths.db)
    try:
        run = reader.resolve_run(run_ref)
        inp = read_inputs(reader, run)
        if for_ is None:  # a bench run is judged with for: ≤ a quarter of its duration
            from iejtui.advisor.overrides import for_run
            rules = for_run(rules, run, inp.window[1] - inp.window[0])
        result = advise_json(inp, advise_inputs(inp, rules))
    finally:
        reader.close()
    if as_json:
        emit_json(result)
    else:
        _print(result)


COMMANDS = [advise]
