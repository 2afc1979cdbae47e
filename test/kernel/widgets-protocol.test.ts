/**
 * The Jupyter widget protocol 2.1 through a real kernel, played by a front end that knows nothing of
 * mixdistill (as VS Code's widget manager): it reads comm_open on `jupyter.widget`, sends updates,
 * request_state, custom messages and buffers, and asks the control comm for every state.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KernelClient, type Msg } from "./client.js";

let k: KernelClient;
beforeAll(async () => {
  k = await KernelClient.launch();
  await k.ready();
}, 60_000);
afterAll(async () => {
  await k?.shutdown();
});

const VIEW = "application/vnd.jupyter.widget-view+json";

/** Runs a cell that displays a widget; returns the widget's comm_open and display bundle. */
async function show(code: string): Promise<{ open: Msg; bundle: Record<string, any>; opens: Msg[] }> {
  const { reply, iopub } = await k.execute(code);
  expect(reply.content.status, JSON.stringify(reply.content)).toBe("ok");
  const shown = iopub.find((m) => m.header.msg_type === "display_data" || m.header.msg_type === "execute_result");
  expect(shown, "the cell shows the widget").toBeDefined();
  const bundle = shown!.content.data as Record<string, any>;
  const opens = iopub.filter((m) => m.header.msg_type === "comm_open");
  const open = opens.find((m) => m.content.comm_id === bundle[VIEW].model_id)!;
  return { open, bundle, opens };
}

const sendComm = async (commId: string, data: Record<string, unknown>, buffers: Buffer[] = []): Promise<void> => {
  await k.sendRaw("shell", [...k.frames("comm_msg", { comm_id: commId, data }), ...buffers]);
};
const commMsgs = (commId: string, from: number): Msg[] => k.iopubLog.slice(from).filter((m) => m.header.msg_type === "comm_msg" && m.content.comm_id === commId);
const nextComm = (commId: string, pred: (d: any) => boolean, from: number): Promise<Msg> =>
  k.waitIopub((m) => m.header.msg_type === "comm_msg" && m.content.comm_id === commId && pred(m.content.data), 10_000, from);

describe("widget protocol 2.1 (a front end that knows nothing of mixdistill)", () => {
  it("opens an IntSlider as a jupyter.widget comm with its state, version 2.1.0, layout and style opened first", async () => {
    const { open, bundle, opens } = await show("const s = widgets.IntSlider({ value: 3, min: 0, max: 10, description: 'n' }); s");
    expect(open.content.target_name).toBe("jupyter.widget");
    expect(open.metadata.version).toBe("2.1.0");
    const st = open.content.data.state;
    expect(st).toMatchObject({ _model_name: "IntSliderModel", _model_module: "@jupyter-widgets/controls", _model_module_version: "2.0.0", _view_name: "IntSliderView", value: 3, min: 0, max: 10, description: "n" });
    expect(bundle[VIEW]).toEqual({ model_id: open.content.comm_id, version_major: 2, version_minor: 1 });
    expect(bundle["text/plain"]).toMatch(/IntSlider\(value=3\)/);
    // layout and style: references to models whose comm_open came first
    const ids = opens.map((m) => m.content.comm_id);
    for (const ref of [st.layout, st.style]) {
      expect(ref).toMatch(/^IPY_MODEL_/);
      const i = ids.indexOf(ref.slice("IPY_MODEL_".length));
      expect(i).toBeGreaterThanOrEqual(0);
      expect(i).toBeLessThan(ids.indexOf(open.content.comm_id));
    }
  });

  it("applies an update from the front end to the kernel's .value, echoes it, and fires observe", async () => {
    const { open } = await show("const seen: number[] = []; const s2 = widgets.IntSlider({ value: 1, max: 20 }); s2.observe((c) => seen.push(c.new as number), 'value'); s2");
    const id = open.content.comm_id;
    const from = k.iopubLog.length;
    await sendComm(id, { method: "update", state: { value: 7 }, buffer_paths: [] });
    const echo = await nextComm(id, (d) => d.method === "echo_update", from);
    expect(echo.content.data.state).toEqual({ value: 7 });
    const r = await k.execute("JSON.stringify([s2.value, seen])");
    expect(r.iopub.find((m) => m.header.msg_type === "execute_result")!.content.data["text/plain"]).toContain("[7,[7]]");
  });

  it("sets .value from code: the front end gets an update; out-of-range from the front end is clamped and sent back", async () => {
    const { open } = await show("const s3 = widgets.IntSlider({ value: 2, max: 5 }); s3");
    const id = open.content.comm_id;
    let from = k.iopubLog.length;
    await k.execute("s3.value = 4");
    expect(commMsgs(id, from).map((m) => m.content.data)).toContainEqual({ method: "update", state: { value: 4 }, buffer_paths: [] });
    from = k.iopubLog.length;
    await sendComm(id, { method: "update", state: { value: 99 } });
    const back = await nextComm(id, (d) => d.method === "update", from);
    expect(back.content.data.state).toEqual({ value: 5 });
  });

  it("answers request_state with the full state", async () => {
    const { open } = await show("const t1 = widgets.Text({ value: 'abc' }); t1");
    const id = open.content.comm_id;
    const from = k.iopubLog.length;
    await sendComm(id, { method: "request_state" });
    const m = await nextComm(id, (d) => d.method === "update", from);
    expect(m.content.data.state).toMatchObject({ _model_name: "TextModel", value: "abc", layout: expect.stringMatching(/^IPY_MODEL_/) });
  });

  it("rejects bad input with an error on that comm and keeps the last valid state; the kernel keeps working", async () => {
    const { open } = await show("const s4 = widgets.IntSlider({ value: 2 }); s4");
    const id = open.content.comm_id;
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ method: "update", state: { value: "seven" } }, /IntSliderModel\.value: expected an integer/],
      [{ method: "update", state: { value: 1.5 } }, /expected an integer/],
      [{ method: "update", state: { _model_name: "X" } }, /_model_name.*not a trait/],
      [{ method: "frobnicate" }, /unknown method "frobnicate"/],
      [{ method: "update", state: { value: 3 }, buffer_paths: [["value", "deep", "x"]] }, /buffer_paths lists 1 path\(s\) but the message carries 0/],
      [{ method: "update", state: { value: 3 }, buffer_paths: "nope" }, /buffer_paths/],
    ];
    for (const [data, re] of cases) {
      const from = k.iopubLog.length;
      await sendComm(id, data);
      const err = await nextComm(id, (d) => d.method === "custom" && d.content?.type === "error", from);
      expect(err.content.data.content.message).toMatch(re);
    }
    // a buffer path into nowhere
    const from = k.iopubLog.length;
    await sendComm(id, { method: "update", state: { value: 3 }, buffer_paths: [["nothere", "x"]] }, [Buffer.from([1, 2])]);
    const err = await nextComm(id, (d) => d.method === "custom" && d.content?.type === "error", from);
    expect(err.content.data.content.message).toMatch(/leads nowhere/);
    // comm_msg for an unknown comm: no crash
    await sendComm("no-such-comm", { method: "update", state: { value: 1 } });
    const r = await k.execute("s4.value");
    expect(r.iopub.find((m) => m.header.msg_type === "execute_result")!.content.data["text/plain"]).toBe("2");
  });

  it("carries binary buffers both ways (anywidget state) and custom messages both ways", async () => {
    const { open } = await show(
      "const aw = widgets.anywidget({ esm: 'export default { render({ model, el }) { el.textContent = String(model.get(\"count\")); } }', state: { count: 1, data: new Uint8Array([1, 2, 3]) } });\n" +
        "const got: unknown[] = []; aw.onCustom((c, bufs) => { got.push(c, bufs.length); aw.send({ pong: (c as any).ping }, [new Uint8Array([9])]); }); aw",
    );
    const id = open.content.comm_id;
    expect(open.content.data.state).toMatchObject({ _model_name: "AnyModel", _model_module: "anywidget", _view_name: "AnyView", count: 1 });
    expect(open.content.data.state._esm).toContain("render");
    expect(open.content.data.buffer_paths).toEqual([["data"]]);
    expect([...open.buffers[0]!]).toEqual([1, 2, 3]);
    let from = k.iopubLog.length;
    await sendComm(id, { method: "update", state: { count: 5 }, buffer_paths: [["data"]] }, [Buffer.from([7, 8])]);
    await nextComm(id, (d) => d.method === "echo_update", from);
    let r = await k.execute("JSON.stringify([aw.get('count'), [...(aw.get('data') as Uint8Array)]])");
    expect(r.iopub.find((m) => m.header.msg_type === "execute_result")!.content.data["text/plain"]).toContain("[5,[7,8]]");
    from = k.iopubLog.length;
    await sendComm(id, { method: "custom", content: { ping: 42 } }, [Buffer.from([0])]);
    const pong = await nextComm(id, (d) => d.method === "custom" && d.content?.pong === 42, from);
    expect([...pong.buffers[0]!]).toEqual([9]);
    // a type change is refused
    from = k.iopubLog.length;
    await sendComm(id, { method: "update", state: { count: "x" } });
    await nextComm(id, (d) => d.method === "custom" && d.content?.type === "error", from);
    r = await k.execute("aw.get('count')");
    expect(r.iopub.find((m) => m.header.msg_type === "execute_result")!.content.data["text/plain"]).toBe("5");
  });

  it("Button clicks (custom {event: 'click'}) call onClick; Dropdown index updates change .value", async () => {
    const { open } = await show("let clicks = 0; const b = widgets.Button({ description: 'go' }); b.onClick(() => clicks++); b");
    await sendComm(open.content.comm_id, { method: "custom", content: { event: "click" } });
    await sendComm(open.content.comm_id, { method: "custom", content: { event: "click" } });
    let r = await k.execute("clicks");
    expect(r.iopub.find((m) => m.header.msg_type === "execute_result")!.content.data["text/plain"]).toBe("2");
    const d = await show("const dd = widgets.Dropdown({ options: [['one', 1], ['two', 2]], value: 1 }); dd");
    expect(d.open.content.data.state).toMatchObject({ _model_name: "DropdownModel", _options_labels: ["one", "two"], index: 0 });
    const from = k.iopubLog.length;
    await sendComm(d.open.content.comm_id, { method: "update", state: { index: 1 } });
    await nextComm(d.open.content.comm_id, (x) => x.method === "echo_update", from);
    r = await k.execute("dd.value");
    expect(r.iopub.find((m) => m.header.msg_type === "execute_result")!.content.data["text/plain"]).toBe("2");
  });

  it("HBox references its children; the control comm answers request_states with every model", async () => {
    const { open } = await show("const hb = widgets.HBox([widgets.Checkbox({ value: true }), widgets.ToggleButtons({ options: ['a', 'b'] })]); hb");
    expect(open.content.data.state._model_name).toBe("HBoxModel");
    expect(open.content.data.state.children).toHaveLength(2);
    const ctl = "ctl-" + Date.now();
    await k.send("shell", "comm_open", { comm_id: ctl, target_name: "jupyter.widget.control", data: {} });
    const from = k.iopubLog.length;
    await sendComm(ctl, { method: "request_states" });
    const m = await nextComm(ctl, (d) => d.method === "update_states", from);
    const states = m.content.data.states;
    expect(states[open.content.comm_id]).toMatchObject({ model_name: "HBoxModel", model_module: "@jupyter-widgets/controls", state: { children: open.content.data.state.children } });
    for (const ref of open.content.data.state.children) expect(states[ref.slice("IPY_MODEL_".length)]).toBeDefined();
    // buffers of request_states carry the model id in their paths
    expect(m.content.data.buffer_paths).toContainEqual(expect.arrayContaining(["state", "data"]));
  });

  it("comm_info_request filtered by target name lists only widget comms", async () => {
    const r = await k.request("shell", "comm_info_request", { target_name: "jupyter.widget" });
    const comms = Object.values(r.content.comms) as { target_name: string }[];
    expect(comms.length).toBeGreaterThan(5);
    expect(comms.every((c) => c.target_name === "jupyter.widget")).toBe(true);
  });

  it("the mixer is an anywidget any widget front end can drive: state by name, update, request_state, errors", async () => {
    const { open, bundle } = await show(
      "import { synth as synthW } from 'mixdistill';\nconst mw = mixer(synthW({ task: 'mixed', n: 400, seed: 3 }), { sources: ['long', 'short'], weight: 0.2 }); mw",
    );
    const id = open.content.comm_id;
    const st = open.content.data.state;
    expect(open.metadata.version).toBe("2.1.0");
    expect(st).toMatchObject({ _model_name: "AnyModel", _model_module: "anywidget", _view_name: "AnyView", weights: [0.2, 0.8], strategy: "per-question", seed: 0 });
    expect(typeof st._esm).toBe("string");
    expect(st.composition.sources[0]).toMatchObject({ source: "long", questions: 80 });
    expect(bundle["text/html"]).toContain('data-mixdistill-weights="[0.2,0.8]"');
    let from = k.iopubLog.length;
    await sendComm(id, { method: "update", state: { weights: [0.5, 0.5], strategy: "interleave" }, buffer_paths: [] });
    const upd = await nextComm(id, (d) => d.method === "update" && d.state?.composition, from);
    expect(upd.content.data.state.composition.total.questionsUsed).toBeLessThan(upd.content.data.state.composition.total.questions);
    let r = await k.execute("JSON.stringify([mw.value, mw.strategy])");
    expect(r.iopub.find((m) => m.header.msg_type === "execute_result")!.content.data["text/plain"]).toContain('[[0.5,0.5],"interleave"]');
    from = k.iopubLog.length;
    await sendComm(id, { method: "update", state: { weights: [2, -1] }, buffer_paths: [] });
    const err = await nextComm(id, (d) => d.method === "custom" && d.content?.type === "error", from);
    expect(err.content.data.content.message).toMatch(/mixer\.weights: \[0\]: expected a number in \[0, 1\], got 2/);
    from = k.iopubLog.length;
    await sendComm(id, { method: "request_state" });
    const full = await nextComm(id, (d) => d.method === "update" && d.state?._esm, from);
    expect(full.content.data.state).toMatchObject({ weights: [0.5, 0.5], strategy: "interleave" });
    r = await k.execute("mw.value = [0.3, 0.7]");
    expect(r.reply.content.status).toBe("ok");
  });
});
