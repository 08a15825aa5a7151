// Alerts: rules by file and group (state, health, last evaluation, error), firing and pending
// alerts, the history of transitions, and silences (create, expire). Says so when the server
// runs without alerting.

import { useState } from "preact/hooks";
import { activeAlerts, alertHistory, alertRules, createSilence, expireSilence, silences, type RuleGroupJson } from "../lib/api";
import { useAsync, useTimeRange } from "../lib/hooks";
import { formatMatcher, parseMatchers } from "../lib/matchers";
import { setParams, useLocation } from "../lib/router";
import { formatAgo, formatTimestamp, parseDuration } from "../lib/time";
import { formatValue } from "../lib/units";
import { transitionSeconds } from "../components/Panel";

const TABS = ["alerts", "rules", "history", "silences"] as const;

function Labels(props: { labels: Record<string, string> }) {
  return (
    <span>
      {Object.entries(props.labels).map(([k, v]) => (
        <span class="badge mono" key={k}>
          {k}={v}
        </span>
      ))}
    </span>
  );
}

export function Alerts() {
  const { params } = useLocation();
  const tab = (TABS as readonly string[]).includes(params.get("tab") ?? "") ? (params.get("tab") as (typeof TABS)[number]) : "alerts";
  const { resolved } = useTimeRange();
  const [version, setVersion] = useState(0);
  const state = useAsync(
    async (signal) => {
      const [rules, alerts] = await Promise.all([alertRules(signal), activeAlerts(signal)]);
      return { rules, alerts };
    },
    [resolved.end, version],
  );
  const notEnabled = state.data && state.data.rules === null && state.data.alerts === null;
  return (
    <section>
      <h1 tabIndex={-1}>Alerts</h1>
      <div role="tablist" class="tabs" aria-label="Alerting views">
        {TABS.map((t) => (
          <button key={t} role="tab" class="btn" aria-selected={tab === t} onClick={() => setParams({ tab: t === "alerts" ? null : t })}>
            {t[0].toUpperCase() + t.slice(1)}
          </button>
        ))}
      </div>
      {state.error && <p class="error" role="alert">{state.error.message}</p>}
      {notEnabled && (
        <div class="card" data-testid="alerting-disabled">
          <p>Alerting is not enabled on this server: start <code>argus serve</code> with rule files (<code>--rules DIR</code>).</p>
        </div>
      )}
      {!notEnabled && state.data && tab === "alerts" && <ActiveAlerts alerts={state.data.alerts ?? []} />}
      {!notEnabled && state.data && tab === "rules" && <Rules groups={state.data.rules ?? []} />}
      {!notEnabled && tab === "history" && <History start={resolved.start} end={resolved.end} />}
      {!notEnabled && tab === "silences" && <Silences onChange={() => setVersion(version + 1)} />}
    </section>
  );
}

function ActiveAlerts(props: { alerts: NonNullable<Awaited<ReturnType<typeof activeAlerts>>> }) {
  const alerts = [...props.alerts].sort((a, b) => (a.state === b.state ? 0 : a.state === "firing" ? -1 : 1));
  if (alerts.length === 0) return <p class="muted">No alert is firing or pending.</p>;
  return (
    <div class="table-wrap">
      <table class="data" aria-label="Active alerts">
        <thead>
          <tr>
            <th scope="col">State</th>
            <th scope="col">Alert</th>
            <th scope="col">Labels</th>
            <th scope="col" class="num">Value</th>
            <th scope="col">Since</th>
          </tr>
        </thead>
        <tbody>
          {alerts.map((a, i) => (
            <tr key={i} data-alert={a.labels.alertname}>
              <td>
                <span class={`badge ${a.state}`}>{a.state}</span>
              </td>
              <td>
                <strong>{a.labels.alertname}</strong>
                {a.annotations?.summary && <div class="muted">{a.annotations.summary}</div>}
              </td>
              <td>
                <Labels labels={Object.fromEntries(Object.entries(a.labels).filter(([k]) => k !== "alertname"))} />
              </td>
              <td class="num">{formatValue(parseFloat(a.value))}</td>
              <td>{a.activeAt ? `${formatTimestamp(Date.parse(a.activeAt))} (${formatAgo(Date.parse(a.activeAt), Date.now())})` : "–"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Rules(props: { groups: RuleGroupJson[] }) {
  const byFile = new Map<string, RuleGroupJson[]>();
  for (const g of props.groups) byFile.set(g.file, [...(byFile.get(g.file) ?? []), g]);
  if (props.groups.length === 0) return <p class="muted">No rules loaded.</p>;
  return (
    <>
      {[...byFile.entries()].map(([file, groups]) => (
        <div key={file} class="card" style={{ marginBottom: "12px" }}>
          <h2 class="mono">{file}</h2>
          {groups.map((g) => (
            <div key={g.name}>
              <h3>
                {g.name} <span class="muted">every {g.interval}s{g.lastEvaluation ? ` · evaluated ${formatAgo(Date.parse(g.lastEvaluation), Date.now())}` : ""}</span>
              </h3>
              <table class="data">
                <thead>
                  <tr>
                    <th scope="col">Rule</th>
                    <th scope="col">State</th>
                    <th scope="col">Health</th>
                    <th scope="col">Expression</th>
                    <th scope="col">Last evaluation</th>
                  </tr>
                </thead>
                <tbody>
                  {g.rules.map((r) => (
                    <tr key={r.name}>
                      <td>
                        {r.type === "recording" ? "⏺ " : ""}
                        {r.name}
                      </td>
                      <td>{r.type === "alerting" ? <span class={`badge ${r.state}`}>{r.state}</span> : <span class="muted">recording</span>}</td>
                      <td>
                        <span class={`badge ${r.health === "ok" ? "ok" : r.health === "err" ? "bad" : ""}`}>{r.health}</span>
                        {r.lastError && <div class="error">{r.lastError}</div>}
                      </td>
                      <td class="mono">{r.query}</td>
                      <td>{r.lastEvaluation ? formatAgo(Date.parse(r.lastEvaluation), Date.now()) : "–"}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ))}
        </div>
      ))}
    </>
  );
}

function History(props: { start: number; end: number }) {
  const state = useAsync((signal) => alertHistory(props.start, props.end, signal), [props.start, props.end]);
  if (state.error) return <p class="error">{state.error.message}</p>;
  if (state.data === null) return <p class="muted">This server keeps no alert history.</p>;
  if (!state.data) return <p class="muted">Loading…</p>;
  if (state.data.length === 0) return <p class="muted">No transitions in this range.</p>;
  return (
    <div class="table-wrap">
      <table class="data" aria-label="Alert history">
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Rule</th>
            <th scope="col">Transition</th>
            <th scope="col">Labels</th>
            <th scope="col" class="num">Value</th>
          </tr>
        </thead>
        <tbody>
          {state.data.map((t, i) => (
            <tr key={i}>
              <td>{formatTimestamp(transitionSeconds(t.time) * 1000)}</td>
              <td>
                {t.rule} <span class="muted">{t.group}</span>
              </td>
              <td>
                <span class={`badge ${t.from}`}>{t.from}</span> → <span class={`badge ${t.to}`}>{t.to}</span>
              </td>
              <td>
                <Labels labels={t.labels} />
              </td>
              <td class="num">{t.value === null || t.value === undefined ? "–" : formatValue(Number(t.value))}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Silences(props: { onChange: () => void }) {
  const [version, setVersion] = useState(0);
  const list = useAsync((signal) => silences(signal), [version]);
  const [form, setForm] = useState({ matchers: "", duration: "2h", createdBy: "", comment: "" });
  const [problem, setProblem] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    const matchers = parseMatchers(form.matchers);
    if (typeof matchers === "string") return setProblem(`Matchers: ${matchers}`);
    const ms = parseDuration(form.duration);
    if (!ms) return setProblem("Duration: like 2h or 30m.");
    try {
      const now = Date.now();
      await createSilence({ matchers, startsAt: new Date(now).toISOString(), endsAt: new Date(now + ms).toISOString(), createdBy: form.createdBy || "argus-ui", comment: form.comment || "silenced from the UI" });
      setProblem(null);
      setVersion(version + 1);
      props.onChange();
    } catch (err) {
      setProblem((err as Error).message);
    }
  };
  const expire = async (id: string) => {
    try {
      await expireSilence(id);
      setVersion(version + 1);
      props.onChange();
    } catch (err) {
      setProblem((err as Error).message);
    }
  };
  const field = (name: keyof typeof form) => ({ value: form[name], onInput: (e: Event) => setForm({ ...form, [name]: (e.target as HTMLInputElement).value }) });
  return (
    <>
      <form class="card toolbar" onSubmit={submit} aria-label="New silence">
        <label class="grow">
          Matchers <input class="mono" style={{ width: "100%" }} {...field("matchers")} placeholder='alertname="HighLatency" service="checkout"' required />
        </label>
        <label>
          For <input {...field("duration")} size={5} />
        </label>
        <label>
          By <input {...field("createdBy")} size={10} />
        </label>
        <label>
          Comment <input {...field("comment")} />
        </label>
        <button class="btn primary" type="submit">
          Create silence
        </button>
      </form>
      {problem && <p class="error" role="alert">{problem}</p>}
      {list.error && <p class="error">{list.error.message}</p>}
      {list.data === null && <p class="muted">This server has no silences API.</p>}
      {list.data && list.data.length === 0 && <p class="muted">No silences.</p>}
      {list.data && list.data.length > 0 && (
        <div class="table-wrap">
          <table class="data" aria-label="Silences">
            <thead>
              <tr>
                <th scope="col">State</th>
                <th scope="col">Matchers</th>
                <th scope="col">Ends</th>
                <th scope="col">By</th>
                <th scope="col">Comment</th>
                <th scope="col" />
              </tr>
            </thead>
            <tbody>
              {list.data.map((s) => (
                <tr key={s.id}>
                  <td>
                    <span class={`badge ${s.status.state === "active" ? "warn" : ""}`}>{s.status.state}</span>
                  </td>
                  <td class="mono">{s.matchers.map(formatMatcher).join(", ")}</td>
                  <td>{formatTimestamp(Date.parse(s.endsAt))}</td>
                  <td>{s.createdBy}</td>
                  <td>{s.comment}</td>
                  <td>
                    {s.status.state !== "expired" && (
                      <button class="btn danger" onClick={() => expire(s.id)}>
                        Expire
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
