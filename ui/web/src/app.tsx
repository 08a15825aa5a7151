// The shell: navigation, theme, the time-range picker, and the page the path selects.

import { lazy, Suspense } from "preact/compat";
import { useEffect, useRef, useState } from "preact/hooks";
import { Link, useLocation } from "./lib/router";
import { TimePicker } from "./components/TimePicker";
import { Home } from "./pages/Home";
import { DashboardList, FileDashboard, ServiceDashboard } from "./pages/Dashboards";
import { Explore } from "./pages/Explore";
import { Logs } from "./pages/Logs";
import { TraceSearchPage, TraceView } from "./pages/Traces";
import { Alerts } from "./pages/Alerts";
import { Errors } from "./pages/Errors";

// dagre is only needed for the service map: loaded when that page opens.
const ServiceMap = lazy(() => import("./pages/ServiceMap").then((m) => ({ default: m.ServiceMap })));

const NAV: [string, string][] = [
  ["/", "Services"],
  ["/dashboards", "Dashboards"],
  ["/explore", "Explore"],
  ["/logs", "Logs"],
  ["/traces", "Traces"],
  ["/traces/map", "Service map"],
  ["/alerts", "Alerts"],
  ["/errors", "Errors"],
];

function active(path: string, href: string): boolean {
  if (href === "/") return path === "/";
  if (href === "/traces") return path.startsWith("/traces") && !path.startsWith("/traces/map");
  return path === href || path.startsWith(href + "/");
}

function page(path: string) {
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  switch (parts[0]) {
    case undefined:
      return <Home />;
    case "dashboards":
      if (parts[1] === "service" && parts[2]) return <ServiceDashboard service={parts[2]} />;
      if (parts[1] === "file" && parts[2]) return <FileDashboard id={parts[2]} />;
      return <DashboardList />;
    case "explore":
      return <Explore />;
    case "logs":
      return <Logs />;
    case "traces":
      if (parts[1] === "map") return <Suspense fallback={<p class="muted">Loading…</p>}><ServiceMap /></Suspense>;
      if (parts[1]) return <TraceView id={parts[1]} />;
      return <TraceSearchPage />;
    case "alerts":
      return <Alerts />;
    case "errors":
      return <Errors />;
    default:
      return (
        <section>
          <h1>Not found</h1>
          <p>
            No page at <code>{path}</code>. <Link href="/">Go to the services</Link>.
          </p>
        </section>
      );
  }
}

export function App() {
  const { path } = useLocation();
  const [theme, setTheme] = useState(document.documentElement.dataset.theme || "light");
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem("argus.theme", theme);
  }, [theme]);
  // Focus the page heading after a navigation (not on first load, where Tab must start at the
  // skip link) so screen readers announce the new page.
  const firstRender = useRef(true);
  useEffect(() => {
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    document.querySelector<HTMLElement>("main h1")?.focus({ preventScroll: true });
  }, [path]);
  const showTime = !path.startsWith("/traces/") || path === "/traces/map";
  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link href="/" class="brand">
          Argus
        </Link>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([href, label]) => (
              <li key={href}>
                <Link href={href} aria-current={active(path, href) ? "page" : undefined}>
                  {label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div class="top-right">
          {showTime && <TimePicker />}
          <button
            class="btn"
            aria-label={`Switch to ${theme === "dark" ? "light" : "dark"} theme`}
            onClick={() => setTheme(theme === "dark" ? "light" : "dark")}
          >
            {theme === "dark" ? "☀" : "☾"}
          </button>
        </div>
      </header>
      {/* Keyed by theme too: charts read the theme's colours when they are drawn. */}
      <main id="main" key={`${path}|${theme}`}>
        {page(path)}
      </main>
    </div>
  );
}
