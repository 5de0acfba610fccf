/* quarterhour planners' workspace: projects from the planner's files, every community's status on
 * a map and in a table, stations edited by hand, plans, scenarios compared, downloads.
 * Plain script, no build step, nothing fetched beyond this server (works offline). Every action
 * is one of the HTTP calls documented at /docs. */
(function () {
  "use strict";

  var wgs84ToGcj02 = window.quarterhourCrs.wgs84ToGcj02, gcj02ToWgs84 = window.quarterhourCrs.gcj02ToWgs84;
  var errorItems = window.quarterhourMessages.errorItems;

  /* ---------- labels ---------- */
  var STATUS = {
    covered_existing: { zh: "现有站点覆盖", en: "covered (existing)", colour: "#1a9850" },
    covered_new: { zh: "新站点覆盖", en: "covered (new)", colour: "#2166ac" },
    uncoverable: { zh: "无法覆盖", en: "uncoverable", colour: "#d73027" },
    over_capacity: { zh: "超出容量", en: "over capacity", colour: "#e7298a" },
    over_budget: { zh: "超出预算", en: "over budget", colour: "#f46d43" },
    off_network: { zh: "不在路网", en: "off network", colour: "#8c510a" },
    outside_boundary: { zh: "边界外", en: "outside boundary", colour: "#999999" }
  };
  var STATUS_ORDER = Object.keys(STATUS);
  var COVERED = { covered_existing: true, covered_new: true };
  var KIND = { existing: "现有 existing", new: "新增 new" };
  var ROUTE = "#e6550d", PAGE_ROWS = 100;
  var ZH = new Intl.Collator("zh-CN");  // one collator: localeCompare builds one per call

  function statusLabel(code) {
    var s = STATUS[code];
    return s ? s.zh + " " + s.en : String(code || "—");
  }
  function fmt(value, digits) {
    if (value === null || value === undefined || value === "" || !isFinite(value)) { return "—"; }
    return Number(value).toLocaleString("en-US", { maximumFractionDigits: digits || 0, minimumFractionDigits: digits || 0 });
  }
  function esc(text) {
    return String(text === null || text === undefined ? "" : text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function $(id) { return document.getElementById(id); }

  function errorHtml(items) {
    return items.map(function (item) {
      return '<div class="error"><span class="zh">' + esc(item.zh) + "</span><br><span class=\"en\">" + esc(item.en) + "</span></div>";
    }).join("");
  }

  function showMessage(zh, en, kind) {
    var box = $("message");
    box.className = kind || "info";
    box.textContent = zh + (en ? "\n" + en : "");
  }
  function showError(error) {
    var items = error.items || [{ zh: "出错了", en: String(error.message || error) }];
    var box = $("message");
    box.className = "error";
    box.innerHTML = errorHtml(items);
  }

  /* ---------- HTTP ---------- */
  function ApiFailure(status, body) {
    this.status = status;
    this.body = body;
    this.items = errorItems(body, status);
    this.message = this.items.map(function (i) { return i.en; }).join("; ");
  }

  function api(method, url, options) {
    options = options || {};
    var init = { method: method, headers: options.headers || {}, credentials: "same-origin" };
    if (options.form) {
      init.body = options.form;
    } else if (options.json !== undefined) {
      init.body = JSON.stringify(options.json);
      init.headers["Content-Type"] = "application/json";
    }
    return fetch(url, init).then(function (response) {
      if (response.status === 401) {
        window.location.href = "/login?next=" + encodeURIComponent(window.location.pathname + window.location.search);
        throw new ApiFailure(401, { detail: "login required" });
      }
      return response.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (e) { body = { detail: "HTTP " + response.status + " " + response.statusText }; }
        if (!response.ok) { throw new ApiFailure(response.status, body); }
        if (options.withResponse) { return { body: body, response: response }; }
        return body;
      });
    });
  }

  /* ---------- state ---------- */
  var state = {
    config: {},
    tilesCrs: "wgs84",
    projects: [],
    project: null,        // the project's JSON
    scenarios: [],        // list entries
    scenario: null,       // the full scenario
    version: null,
    communities: [],
    byCommunity: {},
    stations: {},         // id -> station
    excluded: [],         // candidate sites (or communities as sites) left out of plans
    selected: null,
    sort: { key: "name", dir: 1 },
    page: 0,
    filterStatus: "",
    filterArea: "",
    filterText: "",
    adding: false,
    job: null,
    edits: Promise.resolve(),
    generation: 0,        // scenarios loaded so far: an edit belongs to the one shown when it was made
    compare: null
  };

  /* ---------- map ---------- */
  var map = L.map("map", { preferCanvas: true, zoomControl: true });
  map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
  var svg = L.svg({ padding: 0.5 });
  var layers = {
    base: L.layerGroup().addTo(map),
    boundary: L.layerGroup().addTo(map),
    sites: L.layerGroup().addTo(map),
    communities: L.layerGroup().addTo(map),
    compare: L.layerGroup().addTo(map),
    routes: L.layerGroup().addTo(map),
    stations: L.layerGroup().addTo(map)
  };
  L.control.scale({ imperial: false }).addTo(map);
  var communityMarkers = {}, stationMarkers = {};

  function toMap(lon, lat) {  // WGS84 -> the base map's coordinates, as a Leaflet LatLng
    if (state.tilesCrs === "gcj02") {
      var g = wgs84ToGcj02(lon, lat);
      return L.latLng(g[1], g[0]);
    }
    return L.latLng(lat, lon);
  }
  function fromMap(latlng) {  // the base map's coordinates -> WGS84 [lon, lat]
    if (state.tilesCrs === "gcj02") { return gcj02ToWgs84(latlng.lng, latlng.lat); }
    return [latlng.lng, latlng.lat];
  }
  function coordsToLatLng(c) { return toMap(c[0], c[1]); }

  function drawLegend() {
    var html = STATUS_ORDER.map(function (code) {
      return '<span class="sw" style="background:' + STATUS[code].colour + '"></span>' + STATUS[code].zh + " " + STATUS[code].en;
    }).join(" ");
    html += '<br><span class="sq" style="background:#2c7bb6"></span>现有站点 existing station' +
      '<span class="sq" style="background:#7b3294"></span>新站点 new station' +
      '<span class="sq" style="background:#aaa"></span>不在路网的站点 station off network' +
      '<span class="sq" style="background:#fff;outline:3px solid #000"></span>锁定 locked' +
      '<span class="sw" style="background:#fff;border:1.5px solid #555"></span>候选站址 candidate site' +
      '<span class="sw" style="background:' + ROUTE + ';border-radius:0;height:3px"></span>步行路线 route';
    $("legend").innerHTML = html;
  }

  function drawBase() {
    var cfg = state.config, tiles = typeof cfg.tiles === "object" && cfg.tiles ? cfg.tiles : {};
    var url = typeof cfg.tiles === "string" ? cfg.tiles : (tiles.url || cfg.tiles_url);
    state.tilesCrs = (tiles.crs || cfg.tiles_crs || "wgs84").toLowerCase().replace("-", "");
    var attribution = tiles.attribution || cfg.tiles_attribution || "";
    var network = cfg.network || {};
    map.attributionControl.addAttribution(esc(network.attribution || "© OpenStreetMap contributors (ODbL)"));
    var box = network.bbox;  // the network's extent: a view before any street or project is drawn
    map.fitBounds(box ? L.latLngBounds(toMap(box[0], box[1]), toMap(box[2], box[3])) : [[31.18, 121.40], [31.28, 121.54]], { animate: false });
    if (url) {
      // {s} in the URL: AMap numbers its hosts 1-4, Tencent 0-3, most others a-c.
      var known = /autonavi|amap/.test(url) ? { s: "1234", who: "© 高德地图 AutoNavi" } :
        /gtimg|qq\.com/.test(url) ? { s: "0123", who: "© 腾讯地图 Tencent" } :
        /tianditu/.test(url) ? { s: "01234567", who: "© 天地图 Tianditu" } : { s: "abc", who: "" };
      L.tileLayer(url, { attribution: attribution || known.who, maxZoom: 19, subdomains: tiles.subdomains || known.s }).addTo(layers.base);
      document.body.dataset.tiles = state.tilesCrs;
      return Promise.resolve();
    }
    return api("GET", "/network").then(function (collection) {
      var lines = L.geoJSON(collection, { style: { color: "#999", weight: 1, opacity: 0.7 }, interactive: false, coordsToLatLng: coordsToLatLng });
      layers.base.addLayer(lines);
      if (!state.project) { map.fitBounds(lines.getBounds()); }
      document.body.dataset.streets = "1";
    }).catch(function (error) { showError(error); });  // the projects still open without the streets
  }

  function communityStyle(c) {
    var colour = (STATUS[c.status] || { colour: "#555" }).colour;
    var selected = state.selected === c.id;
    return { radius: selected ? 7 : 4, color: selected ? "#000" : colour, weight: selected ? 2 : 1, fillColor: colour, fillOpacity: 0.85 };
  }

  // Leave a candidate site (or a community as a site) out of plans, or take it back.
  function siteButton(id) {
    return state.excluded.indexOf(id) >= 0 ?
      '<button type="button" data-action="include" data-site="' + esc(id) + '">恢复为候选站址 Include as a site</button>' :
      '<button type="button" data-action="exclude" data-site="' + esc(id) + '">不作候选站址 Exclude as a site</button>';
  }

  function communityPopup(c) {
    var station = c.station_id != null ? state.stations[c.station_id] : null;
    var walk = c.walk_min != null ? fmt(c.walk_min, 1) + " 分钟 min" : "—";
    var html = "<b>" + esc(c.name) + "</b> <small>" + esc(c.id) + "</small><br>" +
      statusLabel(c.status) + "<br>步行 walk: " + walk +
      (station ? "<br>站点 station: " + esc(station.name || station.id) : "") +
      "<br>人口 residents: " + fmt(c.weight);
    if (editable()) {
      html += '<br><button type="button" data-action="add-at" data-community="' + esc(c.id) + '">在此设站 Station here</button>';
      html += siteButton(c.id);
    }
    return html;
  }

  function drawCommunities() {
    layers.communities.clearLayers();
    communityMarkers = {};
    state.communities.forEach(function (c) {
      if (c.lon == null || c.lat == null) { return; }
      var marker = L.circleMarker(toMap(c.lon, c.lat), Object.assign({ bubblingMouseEvents: false }, communityStyle(c)));
      marker.on("click", function () {
        if (state.adding && editable()) {  // adding: a click on a community puts the station there
          edit({ op: "add", community_id: c.id }, "在小区设站 station at " + c.name);
          return;
        }
        selectCommunity(c.id, { fromMap: true });
      });
      communityMarkers[c.id] = marker;
      layers.communities.addLayer(marker);
    });
  }

  function restyleCommunity(c) {
    var marker = communityMarkers[c.id];
    if (marker) { marker.setStyle(communityStyle(c)); }
  }

  function stationIcon(s, extra) {
    var classes = ["station-icon", s.kind === "new" ? "new" : "existing"];
    if (s.locked) { classes.push("locked"); }
    if (s.status && s.status !== "active" && s.status !== "ok") { classes.push("inactive"); }
    if (extra) { classes.push(extra); }
    return L.divIcon({ className: classes.join(" "), iconSize: [12, 12] });
  }

  function stationPopup(s) {
    var served = state.communities.filter(function (c) { return c.station_id === s.id && COVERED[c.status]; }).length;
    var html = "<b>" + esc(s.name || s.id) + "</b> <small>" + esc(s.id) + "</small><br>" + (KIND[s.kind] || esc(s.kind)) +
      (s.locked ? " · 已锁定 locked" : "") + (s.status && STATUS[s.status] ? " · " + statusLabel(s.status) + "，不服务小区 serves none" : "") +
      "<br>服务小区 serves " + served + " 个 communities" + staffingHtml(s);
    if (editable()) {
      html += '<br><button type="button" data-action="' + (s.locked ? "unlock" : "lock") + '" data-station="' + esc(s.id) + '">' +
        (s.locked ? "解锁 Unlock" : "锁定 Lock") + "</button>" +
        '<button type="button" data-action="remove" data-station="' + esc(s.id) + '">删除 Remove</button>' +
        '<br><label>援助员 Aides <input class="short aides-input" type="number" min="1" max="1000" step="1" value="' + esc(aidesOf(s)) +
        '" data-aides-for="' + esc(s.id) + '" aria-label="aides"></label><button type="button" data-action="aides" data-station="' + esc(s.id) + '">设定 Set</button>';
    }
    return html;
  }

  function capacitated() { return !!(state.scenario && state.scenario.settings && state.scenario.settings.residents_per_aide); }
  function aidesOf(s) {  // a station's own aides, else what a new station opens with
    if (s.aides != null) { return s.aides; }
    var settings = (state.scenario && state.scenario.settings) || {};
    return settings.aides_new || 1;
  }
  function staffingHtml(s) {
    if (!capacitated()) { return s.aides != null ? "<br>援助员 aides " + fmt(s.aides) : ""; }
    var short = Number(s.shortfall) || 0;
    return "<br>援助员 aides <b>" + fmt(aidesOf(s)) + "</b> · 容量 capacity " + fmt(s.capacity) + " 人 residents" +
      "<br>服务居民 serves " + fmt(s.served_weight) + " · 需要援助员 aides needed " + fmt(s.aides_needed) +
      (short > 0 ? ' · <b class="short-of">缺 short ' + fmt(short) + "</b>" : "");
  }

  function drawStation(s) {
    var old = stationMarkers[s.id];
    if (old) { layers.stations.removeLayer(old); }
    if (s.lon == null || s.lat == null) { return; }
    var marker = L.marker(toMap(s.lon, s.lat), { icon: stationIcon(s), draggable: editable(), keyboard: false, title: s.name || s.id, bubblingMouseEvents: false });
    marker.bindPopup(function () { return stationPopup(s); });
    marker.on("dragend", function () {
      var wgs = fromMap(marker.getLatLng());
      edit({ op: "move", station_id: s.id, lon: wgs[0], lat: wgs[1], crs: "wgs84" }, "移动站点 move " + (s.name || s.id));
    });
    stationMarkers[s.id] = marker;
    layers.stations.addLayer(marker);
  }

  function drawStations() {
    layers.stations.clearLayers();
    stationMarkers = {};
    Object.keys(state.stations).forEach(function (id) { drawStation(state.stations[id]); });
  }

  function drawRoute(c) {
    layers.routes.clearLayers();
    var s = c.station_id != null ? state.stations[c.station_id] : null;
    if (!s || c.lon == null || s.lon == null) { return Promise.resolve(); }
    var speed = (state.scenario.settings && state.scenario.settings.speed_kmh) || (state.scenario.summary && state.scenario.summary.speed_kmh) || 4.5;
    var url = "/route?from_lon=" + c.lon.toFixed(7) + "&from_lat=" + c.lat.toFixed(7) + "&to_lon=" + s.lon.toFixed(7) +
      "&to_lat=" + s.lat.toFixed(7) + "&speed_kmh=" + speed;
    return api("GET", url).then(function (feature) {
      if (state.selected !== c.id) { return; }
      L.geoJSON(feature, { coordsToLatLng: coordsToLatLng, style: { color: ROUTE, weight: 5, opacity: 0.9, renderer: svg, className: "route" } })
        .bindTooltip(esc(c.name) + " → " + esc(s.name || s.id) + " · " + fmt(feature.properties.minutes, 1) + " 分钟 min · " + fmt(feature.properties.meters) + " 米 m")
        .addTo(layers.routes);
      document.body.dataset.route = feature.properties.minutes.toFixed(2);
    }).catch(function (error) { showError(error); });
  }

  /* ---------- selection (table <-> map) ---------- */
  function selectCommunity(id, how) {
    var previous = state.selected;
    state.selected = id;
    if (previous != null && state.byCommunity[previous]) { restyleCommunity(state.byCommunity[previous]); }
    var c = state.byCommunity[id];
    if (!c) { return; }
    restyleCommunity(c);
    var marker = communityMarkers[id];
    if (marker) {
      marker.bringToFront();
      if (!(how && how.fromMap)) { map.setView(marker.getLatLng(), Math.max(map.getZoom(), 16), { animate: false }); }
      marker.bindPopup(communityPopup(c), { autoPan: false }).openPopup();
    }
    if (how && how.fromMap) {  // show its row: the page that holds it, in the current filter
      activateTab("communities");
      var rows = filteredRows(), index = rows.indexOf(c);
      if (index < 0) { state.filterStatus = ""; state.filterArea = ""; state.filterText = ""; syncFilters(); rows = filteredRows(); index = rows.indexOf(c); }
      state.page = Math.floor(Math.max(index, 0) / PAGE_ROWS);
    }
    renderTable();
    var row = document.querySelector('#community-table tr[data-id="' + cssEscape(id) + '"]');
    if (row && row.scrollIntoView) { row.scrollIntoView({ block: "nearest" }); }
    document.body.dataset.selected = String(id);
    drawRoute(c);
  }

  function cssEscape(text) { return window.CSS && CSS.escape ? CSS.escape(String(text)) : String(text).replace(/"/g, '\\"'); }

  /* ---------- table ---------- */
  function areaOf(c) { return c.town || c.district || ""; }

  var sorted = { list: null, key: null, dir: 0, order: [] };
  var STABLE_KEYS = { name: true, weight: true };  // no edit changes them

  function sortedCommunities() {
    // Sorting 20,000 names takes about 80 ms: done again only when the order can have changed.
    var key = state.sort.key, dir = state.sort.dir;
    if (sorted.list === state.communities && sorted.key === key && sorted.dir === dir) { return sorted.order; }
    var order = state.communities.slice();
    order.sort(function (a, b) {
      var x = key === "station_name" ? stationName(a) : a[key], y = key === "station_name" ? stationName(b) : b[key];
      var xn = x === null || x === undefined || x === "", yn = y === null || y === undefined || y === "";
      if (xn || yn) { return xn === yn ? 0 : (xn ? 1 : -1); }  // blanks last in both directions
      if (typeof x === "number" && typeof y === "number") { return (x - y) * dir; }
      return ZH.compare(String(x), String(y)) * dir;
    });
    sorted = { list: state.communities, key: key, dir: dir, order: order };
    return order;
  }

  function filteredRows() {
    var text = state.filterText.toLowerCase();
    if (!text && !state.filterStatus && !state.filterArea) { return sortedCommunities(); }
    return sortedCommunities().filter(function (c) {
      if (state.filterStatus && c.status !== state.filterStatus) { return false; }
      if (state.filterArea && areaOf(c) !== state.filterArea) { return false; }
      if (text && String(c.name).toLowerCase().indexOf(text) < 0 && String(c.id).toLowerCase().indexOf(text) < 0) { return false; }
      return true;
    });
  }

  function stationName(c) {
    var s = c.station_id != null ? state.stations[c.station_id] : null;
    return s ? (s.name || s.id) : (c.station_name || "");
  }

  function renderTable() {
    var rows = filteredRows();
    var pages = Math.max(1, Math.ceil(rows.length / PAGE_ROWS));
    state.page = Math.min(state.page, pages - 1);
    var start = state.page * PAGE_ROWS, shown = rows.slice(start, start + PAGE_ROWS);
    $("community-table").querySelector("tbody").innerHTML = shown.map(function (c) {
      var colour = (STATUS[c.status] || { colour: "#555" }).colour;
      return '<tr data-id="' + esc(c.id) + '"' + (c.id === state.selected ? ' class="selected"' : "") + ">" +
        '<td title="' + esc(c.name) + '">' + esc(c.name) + "</td>" +
        '<td data-status="' + esc(c.status) + '"><span class="sw" style="background:' + colour + '"></span>' + esc(STATUS[c.status] ? STATUS[c.status].zh : c.status) + "</td>" +
        '<td class="num">' + (c.walk_min != null ? fmt(c.walk_min, 1) : "—") + "</td>" +
        '<td title="' + esc(stationName(c)) + '">' + esc(stationName(c)) + "</td>" +
        '<td class="num">' + fmt(c.weight) + "</td></tr>";
    }).join("");
    $("page-info").textContent = (rows.length ? start + 1 : 0) + "–" + (start + shown.length) + " / " + rows.length +
      " 行 rows" + (rows.length !== state.communities.length ? "（共 of " + state.communities.length + "）" : "");
    document.querySelectorAll("#community-table th[data-sort]").forEach(function (th) {
      th.className = th.dataset.sort === state.sort.key ? (state.sort.dir > 0 ? "asc" : "desc") : "";
    });
    document.body.dataset.rows = String(rows.length);
  }

  function syncFilters() {
    $("filter-text").value = state.filterText;
    $("filter-status").value = state.filterStatus;
    $("filter-area").value = state.filterArea;
  }

  function renderCounts() {
    var counts = {}, total = state.communities.length;
    state.communities.forEach(function (c) { counts[c.status] = (counts[c.status] || 0) + 1; });
    var chips = ['<span class="chip' + (state.filterStatus ? "" : " on") + '" data-status="">全部 all ' + total + "</span>"];
    STATUS_ORDER.forEach(function (code) {
      if (!counts[code]) { return; }
      chips.push('<span class="chip' + (state.filterStatus === code ? " on" : "") + '" data-status="' + code + '" data-count="' + counts[code] + '">' +
        '<span class="sw" style="background:' + STATUS[code].colour + '"></span>' + STATUS[code].zh + " " + STATUS[code].en + " " + counts[code] + "</span>");
    });
    $("status-counts").innerHTML = chips.join("");
    var statusOptions = ['<option value="">全部状态 all statuses</option>'].concat(STATUS_ORDER.filter(function (code) { return counts[code]; }).map(function (code) {
      return '<option value="' + code + '">' + statusLabel(code) + " (" + counts[code] + ")</option>";
    }));
    $("filter-status").innerHTML = statusOptions.join("");
    var areas = {};
    state.communities.forEach(function (c) { var a = areaOf(c); if (a) { areas[a] = (areas[a] || 0) + 1; } });
    $("filter-area").innerHTML = ['<option value="">全部街镇 all areas</option>'].concat(Object.keys(areas).sort(function (a, b) { return ZH.compare(a, b); }).map(function (a) {
      return '<option value="' + esc(a) + '">' + esc(a) + " (" + areas[a] + ")</option>";
    })).join("");
    syncFilters();
  }

  function figuresOf(communities, stations) {
    var f = { existing: 0, fresh: 0, covered: 0, residents: 0, residentsCovered: 0, uncoverable: 0, overCapacity: 0, walks: [], n: 0, aides: null };
    stations.forEach(function (s) { if (s.kind === "new") { f.fresh += 1; } else { f.existing += 1; } });
    communities.forEach(function (c) {
      if (c.status === "outside_boundary") { return; }
      var w = Number(c.weight) || 0;
      f.n += 1;
      f.residents += w;
      if (COVERED[c.status]) {
        f.covered += 1; f.residentsCovered += w;
        if (c.walk_min != null) { f.walks.push(Number(c.walk_min)); }
      }
      if (c.status === "uncoverable" || c.status === "off_network") { f.uncoverable += 1; }
      if (c.status === "over_capacity") { f.overCapacity += 1; }
    });
    f.mean = f.walks.length ? f.walks.reduce(function (a, b) { return a + b; }, 0) / f.walks.length : null;
    f.longest = f.walks.length ? Math.max.apply(null, f.walks) : null;
    return f;
  }

  function renderHeadline() {
    var f = figuresOf(state.communities, stationList());
    var share = f.n ? 100 * f.covered / f.n : 0, rshare = f.residents ? 100 * f.residentsCovered / f.residents : 0;
    $("headline").innerHTML = "覆盖 covered <b id=\"head-covered\">" + fmt(f.covered) + "</b> / " + fmt(f.n) + " 小区 communities (" + fmt(share, 1) + "%) · " +
      "居民 residents <b id=\"head-residents\">" + fmt(f.residentsCovered) + "</b> / " + fmt(f.residents) + " (" + fmt(rshare, 1) + "%) · " +
      "站点 stations <b>" + (f.existing + f.fresh) + "</b>（现有 existing " + f.existing + "，新增 new " + f.fresh + "）" + headlineStaffing(f);
  }

  function headlineStaffing(f) {
    if (!capacitated()) { return ""; }
    var aides = 0, needed = 0;
    stationList().forEach(function (s) { aides += Number(aidesOf(s)) || 0; needed += Number(s.aides_needed) || 0; });
    return " · 超出容量 over capacity <b id=\"head-over\">" + fmt(f.overCapacity) + "</b> · 援助员 aides <b id=\"head-aides\">" + fmt(aides) +
      "</b>（需要 needed " + fmt(needed) + "，每名服务 " + fmt(state.scenario.settings.residents_per_aide) + " 人 residents per aide）";
  }

  function renderAreas() {
    var areas = {};
    state.communities.forEach(function (c) {
      var key = areaOf(c) || "（未注明 unnamed）";
      var a = areas[key] || (areas[key] = { n: 0, covered: 0, w: 0, wc: 0 });
      var w = Number(c.weight) || 0;
      a.n += 1; a.w += w;
      if (COVERED[c.status]) { a.covered += 1; a.wc += w; }
    });
    var keys = Object.keys(areas).sort(function (a, b) { return ZH.compare(a, b); });
    var total = { n: 0, covered: 0, w: 0, wc: 0 };
    var html = keys.map(function (k) {
      var a = areas[k];
      total.n += a.n; total.covered += a.covered; total.w += a.w; total.wc += a.wc;
      return "<tr><td>" + esc(k) + '</td><td class="num">' + a.n + '</td><td class="num">' + a.covered + '</td><td class="num">' + fmt(a.w) + '</td><td class="num">' + fmt(a.wc) + "</td></tr>";
    }).join("");
    html += '<tr class="total"><td><b>合计 Total</b></td><td class="num"><b>' + total.n + '</b></td><td class="num"><b>' + total.covered + '</b></td><td class="num"><b>' + fmt(total.w) + '</b></td><td class="num"><b>' + fmt(total.wc) + "</b></td></tr>";
    $("area-table").querySelector("tbody").innerHTML = html;
  }

  function stationList() { return Object.keys(state.stations).map(function (id) { return state.stations[id]; }); }

  function renderStations() {
    var served = {};
    state.communities.forEach(function (c) { if (COVERED[c.status] && c.station_id != null) { served[c.station_id] = (served[c.station_id] || 0) + 1; } });
    var list = stationList().sort(function (a, b) { return (a.kind === b.kind ? 0 : a.kind === "new" ? 1 : -1) || ZH.compare(String(a.name || a.id), String(b.name || b.id)); });
    var can = editable();
    $("station-table").querySelector("tbody").innerHTML = list.map(function (s) {
      var short = Number(s.shortfall) || 0;
      return '<tr data-station="' + esc(s.id) + '"><td title="' + esc(s.name || s.id) + '">' + esc(s.name || s.id) + (s.locked ? ' <span class="badge">锁定 locked</span>' : "") + "</td><td>" + (KIND[s.kind] || esc(s.kind)) +
        '</td><td class="num">' + (served[s.id] || 0) + '</td><td class="num aides">' + fmt(aidesOf(s)) +
        (capacitated() ? " / " + fmt(s.aides_needed) + (short > 0 ? ' <b class="short-of">−' + fmt(short) + "</b>" : "") : "") + "</td><td>" + (can ?
        '<button type="button" data-action="' + (s.locked ? "unlock" : "lock") + '" data-station="' + esc(s.id) + '">' + (s.locked ? "解锁 Unlock" : "锁定 Lock") + "</button>" +
        '<button type="button" data-action="remove" data-station="' + esc(s.id) + '">删除 Remove</button>' : "") + "</td></tr>";
    }).join("");
    $("candidate-table").querySelector("tbody").innerHTML = state.excluded.length ? state.excluded.map(function (id) {
      var c = state.byCommunity[id];
      return '<tr data-site="' + esc(id) + '"><td>' + esc(c ? c.name + " (" + id + ")" : id) + "</td><td>已排除 excluded</td><td>" + (can ?
        '<button type="button" data-action="include" data-site="' + esc(id) + '">恢复 Include</button>' : "") + "</td></tr>";
    }).join("") : '<tr><td colspan="3">没有排除的站址。No site is excluded.</td></tr>';
  }

  function renderAll() {
    renderCounts();
    renderTable();
    renderHeadline();
    renderAreas();
    renderStations();
    document.body.dataset.version = String(state.version);
  }

  /* ---------- projects and scenarios ---------- */
  function projectUrl(pid) { return "/api/projects/" + encodeURIComponent(pid || state.project.id); }
  function scenarioUrl(sid) { return projectUrl() + "/scenarios/" + encodeURIComponent(sid || state.scenario.id); }
  function editable() { return !(state.config.via === "link" || state.config.read_only || (state.project && state.project.read_only) || (state.scenario && state.scenario.read_only)); }

  function loadProjects(selectId) {
    return api("GET", "/api/projects").then(function (body) {
      state.projects = Array.isArray(body) ? body : (body.projects || body.items || []);
      var select = $("project-select");
      select.innerHTML = state.projects.length ? state.projects.map(function (p) {
        return '<option value="' + esc(p.id) + '">' + esc(p.name || p.id) + "</option>";
      }).join("") : '<option value="">（无项目 no projects）</option>';
      var wanted = selectId || (state.project && state.project.id) || (state.projects[0] && state.projects[0].id);
      if (!wanted) {
        showMessage("还没有项目：点击“新建项目”上传小区名单。", "No project yet: click “New project” to upload a community list.");
        adoptScenario({ communities: [], stations: [] }, null);
        $("scenario-select").innerHTML = "";
        drawCommunities();
        drawStations();
        renderAll();
        return null;
      }
      select.value = wanted;
      var scenario = state.wantedScenario;
      state.wantedScenario = null;
      return openProject(wanted, scenario);
    });
  }

  function openProject(pid, sid) {
    exitCompare();
    return api("GET", projectUrl(pid)).then(function (project) {
      state.project = project;
      drawBoundary(project);
      drawSites(project);
      return loadScenarios(sid);
    });
  }

  function drawBoundary(project) {
    layers.boundary.clearLayers();
    var outline = project.boundary || (project.files && project.files.boundary_geojson);
    if (outline && outline.type) {
      L.geoJSON(outline, { coordsToLatLng: coordsToLatLng, style: { color: "#333", weight: 2, dashArray: "6 4", fill: false }, interactive: false }).addTo(layers.boundary);
    }
  }

  // The candidate sites of the project's file (none: the communities are the sites).
  function drawSites(project) {
    layers.sites.clearLayers();
    (project.candidate_sites || []).forEach(function (site) {
      var marker = L.circleMarker(coordsToLatLng([site.lon, site.lat]), {
        radius: 4, color: "#555", weight: 1.5, fill: false, className: "candidate-site"
      });
      marker.bindPopup(function () {
        var out = state.excluded.indexOf(site.id) >= 0;
        var html = "<b>" + esc(site.name) + "</b> <small>" + esc(site.id) + "</small><br>候选站址 candidate site" +
          (out ? "<br>已排除 excluded" : "");
        if (editable()) { html += "<br>" + siteButton(site.id); }
        return html;
      });
      marker.addTo(layers.sites);
    });
  }

  function loadScenarios(sid) {
    return api("GET", projectUrl() + "/scenarios").then(function (body) {
      state.scenarios = Array.isArray(body) ? body : (body.scenarios || body.items || []);
      var options = state.scenarios.map(function (s) { return '<option value="' + esc(s.id) + '">' + esc(s.name || s.id) + "</option>"; }).join("");
      $("scenario-select").innerHTML = options;
      $("compare-a").innerHTML = options;
      $("compare-b").innerHTML = options;
      var wanted = sid || (state.scenario && state.scenarios.some(function (s) { return s.id === state.scenario.id; }) ? state.scenario.id : null) ||
        (state.scenarios[0] && state.scenarios[0].id);
      if (!wanted) { return null; }
      return openScenario(wanted);
    });
  }

  function community(c) {  // the API names them community_id / community_name, as assignments.csv does
    if (c.id == null) { c.id = c.community_id; }
    if (c.name == null) { c.name = c.community_name != null ? c.community_name : c.id; }
    c.id = String(c.id);
    return c;
  }
  function station(s) {
    if (s.id == null) { s.id = s.station_id; }
    s.id = String(s.id);
    if (s.name == null) { s.name = s.station_name; }
    return s;
  }

  function adoptScenario(scenario, etag) {
    state.generation += 1;
    state.scenario = scenario;
    state.version = scenario.version != null ? scenario.version : Number(String(etag || "").replace(/\D/g, ""));
    state.communities = (scenario.communities || []).map(community);
    state.byCommunity = {};
    state.communities.forEach(function (c) { state.byCommunity[c.id] = c; });
    state.stations = {};
    (scenario.stations || []).forEach(function (s) { station(s); state.stations[s.id] = s; });
    state.excluded = (scenario.excluded || []).map(String);
    if (state.selected != null && !state.byCommunity[state.selected]) { state.selected = null; }
    layers.routes.clearLayers();
  }

  function openScenario(sid, keepView) {
    return api("GET", scenarioUrl(sid), { withResponse: true }).then(function (answer) {
      var firstTime = !state.scenario || !state.project || state.scenario.project_id !== answer.body.project_id || !keepView;
      adoptScenario(answer.body, answer.response.headers.get("ETag"));
      $("scenario-select").value = state.scenario.id;
      $("compare-a").value = state.scenario.id;
      var other = state.scenarios.filter(function (s) { return s.id !== state.scenario.id; })[0];
      if (other && $("compare-b").value === state.scenario.id) { $("compare-b").value = other.id; }
      drawCommunities();
      drawStations();
      renderAll();
      renderScenarioTable();
      renderDownloads();
      capacityForm(state.scenario.settings || {});
      if (firstTime) { fitToCommunities(); }
      document.body.dataset.scenario = String(state.scenario.id);
      document.body.dataset.ready = "1";
    });
  }

  function capacityForm(settings) {  // the plan form starts from the scenario's capacity
    $("plan-rate").value = settings.residents_per_aide != null ? settings.residents_per_aide : "";
    $("plan-aides-new").value = settings.aides_new != null ? settings.aides_new : "";
    $("plan-max-aides").value = settings.max_aides != null ? settings.max_aides : "";
  }

  function fitToCommunities() {
    // The communities on the network: one far off it would shrink the rest to a dot.
    var placed = state.communities.filter(function (c) { return c.lon != null && c.lat != null; });
    var planned = placed.filter(function (c) { return c.status !== "off_network" && c.status !== "outside_boundary"; });
    var points = (planned.length ? planned : placed).map(function (c) { return toMap(c.lon, c.lat); });
    if (points.length) { map.fitBounds(L.latLngBounds(points), { padding: [20, 20], animate: false }); }
  }

  /* ---------- scenario figures ---------- */
  var figureCache = {};  // scenario id + version -> figures

  function scenarioFigures(entry) {
    if (state.scenario && entry.id === state.scenario.id) {
      var own = figuresOf(state.communities, stationList());
      var staffing = (state.scenario.summary || {}).staffing;
      if (!capacitated() || !staffing) { own.overCapacity = null; } else { own.aides = staffing.aides; own.shortfall = staffing.shortfall; }
      return Promise.resolve(own);
    }
    var g = entry.figures;
    if (g && g.n_existing != null) {  // the server's figures of the stored version
      return Promise.resolve({ existing: g.n_existing, fresh: g.n_new, covered: g.covered, n: g.n_communities,
        residentsCovered: g.covered_weight, uncoverable: g.uncoverable, mean: g.mean_walk_min, longest: g.max_walk_min,
        overCapacity: g.staffing ? g.staffing.over_capacity : null, aides: g.staffing ? g.staffing.aides : null,
        shortfall: g.staffing ? g.staffing.shortfall : null });
    }
    var key = entry.id + "@" + entry.version;
    if (figureCache[key]) { return Promise.resolve(figureCache[key]); }
    return api("GET", scenarioUrl(entry.id)).then(function (s) {
      figureCache[key] = figuresOf(s.communities || [], s.stations || []);
      return figureCache[key];
    });
  }

  function renderScenarioTable() {
    var body = $("scenario-table").querySelector("tbody");
    var entries = state.scenarios.slice();
    return Promise.all(entries.map(scenarioFigures)).then(function (all) {
      body.innerHTML = entries.map(function (entry, i) {
        var f = all[i], current = state.scenario && entry.id === state.scenario.id;
        return '<tr data-scenario="' + esc(entry.id) + '"' + (current ? ' class="current"' : "") + "><td>" + esc(entry.name || entry.id) +
          (entry.parent || entry.parent_id ? ' <small title="from">←' + esc(nameOfScenario(entry.parent || entry.parent_id)) + "</small>" : "") +
          '</td><td class="num" data-stations="' + f.existing + "," + f.fresh + '">' + f.existing + " + " + f.fresh + " = " + (f.existing + f.fresh) +
          '</td><td class="num">' + f.covered + " / " + f.n + '</td><td class="num">' + fmt(f.residentsCovered) + '</td><td class="num">' + f.uncoverable +
          '</td><td class="num over-capacity">' + (f.overCapacity == null ? "—" : fmt(f.overCapacity)) +
          '</td><td class="num aides">' + (f.aides == null ? "—" : fmt(f.aides) + (f.shortfall ? ' <small class="short-of" title="缺 short">−' + fmt(f.shortfall) + "</small>" : "")) +
          '</td><td class="num">' + fmt(f.mean, 1) + '</td><td class="num">' + fmt(f.longest, 1) + "</td></tr>";
      }).join("");
    }).catch(showError);
  }

  function nameOfScenario(id) {
    var s = state.scenarios.filter(function (e) { return e.id === id; })[0];
    return s ? s.name : id;
  }

  function renderDownloads() {
    $("download-scenario").textContent = state.scenario.name || state.scenario.id;
    var crs = $("download-crs").value;
    document.querySelectorAll("#downloads a[data-file]").forEach(function (a) {
      var file = a.dataset.file;
      a.href = scenarioUrl() + "/files/" + file + (file === "stations.geojson" ? "?out_crs=" + crs : "");
      a.setAttribute("download", (state.scenario.name || "scenario") + "-" + file);
    });
  }

  /* ---------- edits ---------- */
  function edit(body, what) {
    // One edit at a time, each on the version the previous answer gave: none is lost silently.
    // An edit waiting behind one that made the page reload (a 409, an error, another scenario)
    // was made on what is no longer shown: it is not sent, and the page says so.
    var clicked = performance.now(), target = scenarioUrl(), generation = state.generation;
    state.edits = state.edits.then(function () {
      if (generation !== state.generation) {
        var box = $("message");  // added below the message that says why the page reloaded
        box.className = "error";
        box.textContent += (box.textContent ? "\n" : "") + "未保存：" + what + "（它基于已重新加载的旧版本，请重做）\n" +
          "Not saved: " + what + " (it was made on a version since reloaded; please redo it)";
        document.body.dataset.dropped = String(Number(document.body.dataset.dropped || 0) + 1);
        return null;
      }
      showMessage("保存中… " + what.split(" ")[0], "Saving… " + what, "info");
      return api("POST", target + "/edits", { json: body, headers: { "If-Match": String(state.version) } }).then(function (answer) {
        var answered = performance.now();
        applyChanges(answer, body);
        document.body.dataset.editMs = String(Math.round(performance.now() - clicked));  // click to map redrawn
        document.body.dataset.editDrawMs = String(Math.round(performance.now() - answered));
        showMessage("已保存：" + what + "（版本 " + state.version + "）", "Saved: " + what + " (version " + state.version + ")", "info");
      }).catch(function (error) {
        if (error.status === 409 || error.status === 412) {
          showMessage("此方案已被他人修改，未保存您的修改（" + what + "），已重新加载最新版本，请重做。",
            "This scenario was changed by someone else; your edit (" + what + ") was not saved. The latest version is loaded: please redo it.", "error");
          $("message").className = "error";
          return openScenario(state.scenario.id, true).then(function () { document.body.dataset.conflict = String(Number(document.body.dataset.conflict || 0) + 1); });
        }
        showError(error);
        return openScenario(state.scenario.id, true);  // what the server holds, not what the page guessed
      });
    });
    return state.edits;
  }

  function applyChanges(answer, body) {
    var changed = answer.changed || {};
    if (answer.version != null) { state.version = answer.version; }
    if (body.op === "remove") {
      delete state.stations[body.station_id];
      if (stationMarkers[body.station_id]) { layers.stations.removeLayer(stationMarkers[body.station_id]); delete stationMarkers[body.station_id]; }
    }
    (changed.removed_stations || []).forEach(function (id) {
      delete state.stations[id];
      if (stationMarkers[id]) { layers.stations.removeLayer(stationMarkers[id]); delete stationMarkers[id]; }
    });
    (changed.stations || []).forEach(function (s) {
      station(s);
      if (s.removed || s.deleted) {
        delete state.stations[s.id];
        if (stationMarkers[s.id]) { layers.stations.removeLayer(stationMarkers[s.id]); delete stationMarkers[s.id]; }
        return;
      }
      state.stations[s.id] = Object.assign(state.stations[s.id] || {}, s);
      drawStation(state.stations[s.id]);
    });
    (changed.communities || []).forEach(function (c) {
      community(c);
      var mine = state.byCommunity[c.id];
      if (!mine) { return; }
      Object.assign(mine, c);
      restyleCommunity(mine);
    });
    if (body.op === "exclude" && state.excluded.indexOf(body.site_id) < 0) { state.excluded.push(body.site_id); }
    if (body.op === "include") { state.excluded = state.excluded.filter(function (id) { return id !== body.site_id; }); }
    state.scenario.excluded = state.excluded.slice();
    if (answer.summary) { state.scenario.summary = answer.summary; }
    if (!STABLE_KEYS[state.sort.key]) { sorted.list = null; }
    state.scenario.version = state.version;
    renderAll();
    renderScenarioTable();
    if (state.selected != null && state.byCommunity[state.selected]) { drawRoute(state.byCommunity[state.selected]); }
    document.body.dataset.edits = String(Number(document.body.dataset.edits || 0) + 1);
  }

  function stationAction(action, id) {
    var s = state.stations[id];
    var name = s ? (s.name || s.id) : id;
    var words = { lock: "锁定 lock", unlock: "解锁 unlock", remove: "删除 remove" };
    map.closePopup();
    return edit({ op: action, station_id: id }, words[action] + " " + name);
  }

  /* ---------- plans ---------- */
  function planBody() {
    var objective = document.querySelector('input[name="objective"]:checked').value;
    var limit = document.querySelector('input[name="limit"]:checked').value;
    var body = { speed_kmh: Number($("plan-speed").value), effort: Number($("plan-effort").value), time_limit_s: Number($("plan-time").value) };
    if (objective === "budget") { body.budget = Number($("plan-budget").value); }
    if (limit === "minutes") { body.minutes = Number($("plan-minutes").value); } else { body.meters = Number($("plan-meters").value); }
    body.residents_per_aide = $("plan-rate").value.trim() ? Number($("plan-rate").value) : 0;  // blank: no limit
    if ($("plan-aides-new").value.trim()) { body.aides_new = Number($("plan-aides-new").value); }
    if ($("plan-max-aides").value.trim()) { body.max_aides = Number($("plan-max-aides").value); }
    var name = $("plan-name").value.trim();
    body.name = name || ((state.scenario.name || "方案") + " · " + (body.budget != null ? "预算 budget " + body.budget : "规划 plan"));
    return body;
  }

  function runPlan(event) {
    event.preventDefault();
    if (state.job) { return; }
    var body = planBody();
    $("plan-run").disabled = true;
    $("plan-cancel").disabled = false;
    $("plan-progress").removeAttribute("value");
    $("plan-status").textContent = "已提交 Submitted…";
    api("POST", scenarioUrl() + "/plan", { json: body }).then(function (answer) {
      if (answer && answer.job) {
        state.job = answer.job;
        return pollJob(answer.job);
      }
      return planDone(answer);
    }).catch(function (error) { planEnded(); $("plan-status").innerHTML = errorHtml(error.items || []); });
  }

  function jobState(job) { return String(job.state || job.status || "").toLowerCase(); }

  function pollJob(jid) {
    return api("GET", "/api/jobs/" + encodeURIComponent(jid)).then(function (job) {
      if (state.job !== jid) { return null; }
      var s = jobState(job), progress = job.progress;
      if (typeof progress === "number") { $("plan-progress").value = progress > 1 ? progress / 100 : progress; }
      if (s === "done" || s === "finished" || s === "succeeded" || s === "complete" || s === "completed") { return planDone(job.result || job); }
      if (s === "failed" || s === "error") {
        planEnded();
        $("plan-status").innerHTML = errorHtml(errorItems(job.error ? { detail: job.error.detail || job.error } : job, 500));
        return null;
      }
      if (s === "cancelled" || s === "canceled") { planEnded(); $("plan-status").textContent = "已取消 Cancelled"; return null; }
      $("plan-status").textContent = "规划中 Planning… " + (job.message || job.stage || "") + (typeof progress === "number" ? " " + Math.round(100 * (progress > 1 ? progress / 100 : progress)) + "%" : "");
      return new Promise(function (resolve) { setTimeout(resolve, 400); }).then(function () { return pollJob(jid); });
    }).catch(function (error) { planEnded(); $("plan-status").innerHTML = errorHtml(error.items || []); });
  }

  function planEnded() {
    state.job = null;
    $("plan-run").disabled = false;
    $("plan-cancel").disabled = true;
    $("plan-progress").value = 0;
  }

  function planDone(result) {
    planEnded();
    $("plan-progress").value = 1;
    var sid = typeof result.scenario === "string" ? result.scenario : (result.scenario_id || (result.scenario && result.scenario.id) || result.id);
    $("plan-status").textContent = "完成：新方案已保存 Done: saved as a new scenario";
    showMessage("规划完成，已保存为新方案。", "Plan done, saved as a new scenario.", "info");
    return loadScenarios(sid).then(function () {
      document.body.dataset.planned = String(sid);
      activateTab("scenarios");
    });
  }

  function cancelPlan() {
    var jid = state.job;
    if (!jid) { return; }
    state.job = null;
    api("DELETE", "/api/jobs/" + encodeURIComponent(jid)).catch(function () { return null; }).then(function () {
      planEnded();
      $("plan-status").textContent = "已取消 Cancelled";
    });
  }

  /* ---------- compare ---------- */
  function runCompare() {
    var a = $("compare-a").value, b = $("compare-b").value;
    if (!a || !b || a === b) { showMessage("请选择两个不同的方案。", "Choose two different scenarios.", "error"); return; }
    Promise.all([
      api("GET", projectUrl() + "/compare?a=" + encodeURIComponent(a) + "&b=" + encodeURIComponent(b)),
      api("GET", scenarioUrl(a)),
      api("GET", scenarioUrl(b))
    ]).then(function (answers) {
      var answer = answers[0], where = {};
      // Stations of B first, then A: a station in both is drawn where A has it (they agree).
      [answers[2], answers[1]].forEach(function (s) { (s.stations || []).forEach(function (t) { station(t); where[t.id] = t; }); });
      var pick = function (list) { return (list || []).map(function (id) { return where[typeof id === "object" ? (id.id || id.station_id) : id] || { id: id }; }); };
      var st = answer.stations || {};
      var onlyA = pick(st.only_a), onlyB = pick(st.only_b), both = pick(st.both);
      var differ = (answer.communities || []).map(community);
      state.compare = answer;
      layers.compare.clearLayers();
      layers.stations.remove();
      [[onlyA, "only-a"], [onlyB, "only-b"], [both, "both"]].forEach(function (group) {
        group[0].forEach(function (s) {
          if (s.lon == null) { return; }
          L.marker(toMap(s.lon, s.lat), { icon: stationIcon(s, group[1]), keyboard: false, title: s.name || s.id }).addTo(layers.compare);
        });
      });
      differ.forEach(function (c) {
        var mine = state.byCommunity[c.id] || c;
        if (mine.lon == null) { return; }
        L.circleMarker(toMap(mine.lon, mine.lat), { radius: 9, color: "#000", weight: 2, fill: false, interactive: false }).addTo(layers.compare);
      });
      var nameA = nameOfScenario(a), nameB = nameOfScenario(b);
      var html = '<p><span class="diff-a">■ 仅 A only in A（' + esc(nameA) + "）: " + onlyA.length + '</span> · <span class="diff-b">■ 仅 B only in B（' + esc(nameB) + "）: " + onlyB.length +
        "</span> · <span class=\"diff-both\">■ 两者 both: " + both.length + "</span><br>○ 状态不同的小区 communities whose status differs: " + differ.length + "</p>";
      html += '<div class="table-wrap short"><table class="grid" id="compare-table"><thead><tr><th>小区 Community</th><th>A 状态 status</th><th>B 状态 status</th><th class="num">A 步行 walk</th><th class="num">B 步行 walk</th></tr></thead><tbody>' +
        differ.map(function (c) {
          return '<tr data-id="' + esc(c.id) + '"><td title="' + esc(c.name) + '">' + esc(c.name) + "</td><td>" + statusLabel(c.status_a) + "</td><td>" + statusLabel(c.status_b) +
            '</td><td class="num">' + fmt(c.walk_min_a, 1) + '</td><td class="num">' + fmt(c.walk_min_b, 1) + "</td></tr>";
        }).join("") + "</tbody></table></div>";
      $("compare-result").innerHTML = html;
      document.body.dataset.compare = [onlyA.length, onlyB.length, both.length, differ.length].join(",");
    }).catch(showError);
  }

  function exitCompare() {
    state.compare = null;
    layers.compare.clearLayers();
    if (!map.hasLayer(layers.stations)) { layers.stations.addTo(map); }
    $("compare-result").innerHTML = "";
    delete document.body.dataset.compare;
  }

  /* ---------- upload ---------- */
  var FIELDS = [["id", "编号 id"], ["name", "名称 name"], ["lon", "经度 lon"], ["lat", "纬度 lat"], ["weight", "人口 residents"], ["town", "街镇 town"]];
  var preview = null, previewAsked = 0;

  function uploadReady() {
    // Every file's coordinate system is stated: an outline's too (a GeoJSON outline from DataV is GCJ-02).
    var outline = $("upload-boundary").files.length > 0;
    $("upload-submit").disabled = !($("upload-crs").value && $("upload-communities").files.length && (!outline || $("upload-boundary-crs").value));
  }

  function recognisedOf(p) { return p.recognised || (Array.isArray(p.columns) ? null : p.columns) || {}; }
  function previewRows(p) { return (p.first_rows || (Array.isArray(p.rows) ? p.rows : null) || p.head || []).slice(0, 5); }
  function headersOf(p) { return p.headers || p.all_columns || (Array.isArray(p.columns) ? p.columns : Object.keys(p.columns || {})); }

  function previewFile() {
    // The last preview stays on screen until the next replaces it: emptying it at once would move
    // 上传 Upload from under the click that ended typing in the header row or sheet field.
    preview = null;
    uploadReady();
    var file = $("upload-communities").files[0];
    if (!file) { $("upload-preview").innerHTML = ""; $("upload-errors").innerHTML = ""; return; }
    var form = new FormData();
    form.append("file", file);
    if ($("upload-sheet").value.trim()) { form.append("sheet", $("upload-sheet").value.trim()); }
    if ($("upload-header-row").value.trim()) { form.append("header_row", $("upload-header-row").value.trim()); }
    var asked = ++previewAsked;  // only the latest file's preview is shown (a late one would undo choices)
    api("POST", "/api/files/preview", { form: form }).then(function (p) {
      if (asked !== previewAsked) { return; }
      $("upload-errors").innerHTML = "";
      preview = p;
      var headers = headersOf(p), chosen = recognisedOf(p);
      var selects = FIELDS.map(function (f) {
        var options = ['<option value="">—</option>'].concat(headers.map(function (h) {
          return '<option value="' + esc(h) + '"' + (chosen[f[0]] === h ? " selected" : "") + ">" + esc(h) + "</option>";
        })).join("");
        return "<th>" + f[1] + '<br><select data-field="' + f[0] + '" aria-label="column for ' + f[0] + '">' + options + "</select></th>";
      }).join("");
      var rows = previewRows(p);
      var body = rows.map(function (r) {
        return "<tr>" + FIELDS.map(function (f) {
          var column = chosen[f[0]];
          var value = column == null ? "" : (Array.isArray(r) ? r[headers.indexOf(column)] : r[column]);
          return '<td data-field="' + f[0] + '">' + esc(value) + "</td>";
        }).join("") + "</tr>";
      }).join("");
      var n = typeof p.rows === "number" ? p.rows : p.n_rows;
      var words = { district: "区 district", address: "地址 address" };
      var others = Object.keys(words).filter(function (f) { return chosen[f]; }).map(function (f) { return words[f] + " ← " + esc(chosen[f]); });
      $("upload-preview").innerHTML = '<p class="hint">识别的列（可更正）Recognised columns (correct them if wrong)' + (n != null ? " · " + fmt(n) + " 行 rows" : "") +
        (p.header_row ? " · 表头在第 " + p.header_row + " 行 header on row " + p.header_row : "") + (p.sheet ? " · 工作表 sheet " + esc(p.sheet) : "") +
        (others.length ? "<br>另外识别 also read: " + others.join("; ") : "") + "</p>" + readingHtml(p.read) +
        '<div class="table-wrap short"><table class="grid" id="preview-table"><thead><tr>' + selects + "</tr></thead><tbody>" + body + "</tbody></table></div>";
      $("upload-preview").querySelectorAll("select[data-field]").forEach(function (select) {
        select.addEventListener("change", function () { refreshPreviewColumn(select.dataset.field, select.value); });
      });
      document.body.dataset.preview = "1";
    }).catch(function (error) {
      if (asked === previewAsked) {
        $("upload-preview").innerHTML = "";
        $("upload-errors").innerHTML = errorHtml(error.items || []);
      }
    });
  }

  var SKIP_WORDS = { total: "合计行 total", note: "注释行 note", blank: "空行 blank" };

  // The rows the reader did not take and what it warns of: nothing leaves a planner's list unsaid.
  function readingHtml(read) {
    if (!read) { return ""; }
    var lines = (read.skipped || []).map(function (r) {
      return "第 " + r.row + " 行 row " + r.row + "：" + (SKIP_WORDS[r.reason] || esc(r.reason)) + "，未读入 not read（" + esc(r.text) + "）";
    });
    var counts = read.skipped_counts || {}, listed = (read.skipped || []).length;
    var unlisted = Object.keys(counts).reduce(function (n, k) { return n + (k === "blank" ? 0 : counts[k]); }, 0) - listed;
    if (unlisted > 0) { lines.push("另有 " + unlisted + " 行合计或注释 more total/note rows"); }
    if (counts.blank) { lines.push(counts.blank + " 个空行已跳过 blank rows skipped"); }
    lines = lines.concat((read.warnings || []).map(esc), (read.notes || []).map(esc));
    if (!lines.length) { return ""; }
    return '<ul class="hint" id="preview-reading">' + lines.map(function (line) { return "<li>" + line + "</li>"; }).join("") + "</ul>";
  }

  function refreshPreviewColumn(field, column) {
    if (!preview) { return; }
    var headers = headersOf(preview), rows = previewRows(preview);
    document.querySelectorAll('#preview-table td[data-field="' + field + '"]').forEach(function (td, i) {
      var r = rows[i];
      td.textContent = !column || !r ? "" : String(Array.isArray(r) ? r[headers.indexOf(column)] : r[column]);
    });
  }

  function columnOverrides() {
    if (!preview) { return null; }
    var chosen = recognisedOf(preview), overrides = {}, any = false;
    document.querySelectorAll("#upload-preview select[data-field]").forEach(function (select) {
      if (select.value && select.value !== chosen[select.dataset.field]) { overrides[select.dataset.field] = select.value; any = true; }
    });
    return any ? overrides : null;
  }

  function submitUpload() {
    var crs = $("upload-crs").value;
    if (!crs) { return; }
    var form = new FormData();
    form.append("crs", crs);
    var name = $("upload-name").value.trim();
    if (name) { form.append("name", name); }
    form.append("communities", $("upload-communities").files[0]);
    if ($("upload-sheet").value.trim()) { form.append("sheet", $("upload-sheet").value.trim()); }
    if ($("upload-header-row").value.trim()) { form.append("header_row", $("upload-header-row").value.trim()); }
    ["existing", "candidates", "boundary"].forEach(function (role) {
      var input = $("upload-" + role);
      if (input.files.length) {
        form.append(role, input.files[0]);
        if ($("upload-" + role + "-crs").value) { form.append(role + "_crs", $("upload-" + role + "-crs").value); }
      }
    });
    var overrides = columnOverrides() || {};
    Object.keys(overrides).forEach(function (field) { form.append(field + "_col", overrides[field]); });
    [["upload-rate", "residents_per_aide"], ["upload-aides-new", "aides_new"], ["upload-max-aides", "max_aides"], ["upload-aides-col", "aides_col"]].forEach(function (pair) {
      var value = $(pair[0]).value.trim();
      if (value) { form.append(pair[1], value); }
    });
    $("upload-submit").disabled = true;
    $("upload-errors").innerHTML = '<p class="hint">上传并计算中… Uploading and computing…</p>';
    var started = Date.now();
    api("POST", "/api/projects", { form: form }).then(function (project) {
      document.body.dataset.uploadServerMs = String(Math.round(Date.now() - started));
      $("upload-dialog").close();
      resetUpload();
      showMessage("项目已创建：" + (project.name || project.id), "Project created: " + (project.name || project.id), "info");
      return loadProjects(project.id).then(function () {
        document.body.dataset.uploadMs = String(Date.now() - started);
        document.body.dataset.project = String(project.id);
      });
    }).catch(function (error) {
      $("upload-errors").innerHTML = errorHtml(error.items || []);
      document.body.dataset.uploadError = String(error.status);
      uploadReady();
    });
  }

  function resetUpload() {
    $("upload-form").reset();
    $("upload-preview").innerHTML = "";
    $("upload-errors").innerHTML = "";
    preview = null;
    previewAsked += 1;
    uploadReady();
  }

  /* ---------- wiring ---------- */
  function activateTab(name) {
    document.querySelectorAll("#tabs button").forEach(function (b) { b.classList.toggle("on", b.dataset.tab === name); });
    document.querySelectorAll(".tab").forEach(function (t) { t.classList.toggle("on", t.id === "tab-" + name); });
  }

  document.querySelectorAll("#tabs button").forEach(function (b) {
    b.addEventListener("click", function () { activateTab(b.dataset.tab); if (b.dataset.tab === "scenarios") { renderScenarioTable(); } });
  });
  $("project-select").addEventListener("change", function (e) { if (e.target.value) { state.scenario = null; openProject(e.target.value).catch(showError); } });
  $("scenario-select").addEventListener("change", function (e) { exitCompare(); showMessage("", "", "info"); openScenario(e.target.value, true).catch(showError); });
  $("new-project").addEventListener("click", function () { resetUpload(); $("upload-dialog").showModal(); });
  $("upload-cancel").addEventListener("click", function () { $("upload-dialog").close(); });
  $("upload-crs").addEventListener("change", uploadReady);  // the preview reads columns, not coordinates
  $("upload-boundary").addEventListener("change", uploadReady);
  $("upload-boundary-crs").addEventListener("change", uploadReady);
  $("upload-communities").addEventListener("change", previewFile);
  $("upload-sheet").addEventListener("change", function () { if ($("upload-communities").files.length) { previewFile(); } });
  $("upload-header-row").addEventListener("change", function () { if ($("upload-communities").files.length) { previewFile(); } });
  $("upload-submit").addEventListener("click", submitUpload);
  $("filter-text").addEventListener("input", function (e) { state.filterText = e.target.value; state.page = 0; renderTable(); });
  $("filter-status").addEventListener("change", function (e) { state.filterStatus = e.target.value; state.page = 0; renderCounts(); renderTable(); });
  $("filter-area").addEventListener("change", function (e) { state.filterArea = e.target.value; state.page = 0; renderTable(); });
  $("status-counts").addEventListener("click", function (e) {
    var chip = e.target.closest(".chip");
    if (!chip) { return; }
    state.filterStatus = chip.dataset.status; state.page = 0;
    renderCounts(); renderTable();
  });
  $("community-table").querySelector("thead").addEventListener("click", function (e) {
    var th = e.target.closest("th[data-sort]");
    if (!th) { return; }
    state.sort = { key: th.dataset.sort, dir: state.sort.key === th.dataset.sort ? -state.sort.dir : 1 };
    renderTable();
  });
  $("community-table").querySelector("tbody").addEventListener("click", function (e) {
    var tr = e.target.closest("tr[data-id]");
    if (tr) { selectCommunity(tr.dataset.id); }
  });
  $("page-prev").addEventListener("click", function () { state.page = Math.max(0, state.page - 1); renderTable(); });
  $("page-next").addEventListener("click", function () { state.page += 1; renderTable(); });
  $("plan-form").addEventListener("submit", runPlan);
  $("plan-cancel").addEventListener("click", cancelPlan);
  $("compare-run").addEventListener("click", runCompare);
  $("compare-clear").addEventListener("click", exitCompare);
  $("compare-result").addEventListener("click", function (e) {
    var tr = e.target.closest("tr[data-id]");
    if (tr && state.byCommunity[tr.dataset.id]) { selectCommunity(tr.dataset.id); }
  });
  $("download-crs").addEventListener("change", renderDownloads);
  $("downloads").addEventListener("click", function (e) {
    // Fetched first, so that a refusal is shown (in both languages), not a silently failed download.
    var link = e.target.closest("a[data-file]");
    if (!link) { return; }
    e.preventDefault();
    showMessage("准备下载 " + link.dataset.file + "…", "Preparing " + link.dataset.file + "…", "info");
    fetch(link.href, { credentials: "same-origin" }).then(function (response) {
      if (response.status === 401) { window.location.href = "/login"; return null; }
      if (!response.ok) {
        return response.json().catch(function () { return null; }).then(function (body) { throw new ApiFailure(response.status, body); });
      }
      return response.blob().then(function (blob) {
        var url = URL.createObjectURL(blob), save = document.createElement("a");
        save.href = url;
        save.download = link.getAttribute("download");
        document.body.appendChild(save);
        save.click();
        save.remove();
        setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
        showMessage("已下载 " + link.dataset.file, "Downloaded " + link.dataset.file, "info");
      });
    }).catch(showError);
  });
  $("scenario-table").querySelector("tbody").addEventListener("click", function (e) {
    var tr = e.target.closest("tr[data-scenario]");
    if (tr && (!state.scenario || tr.dataset.scenario !== state.scenario.id)) { exitCompare(); openScenario(tr.dataset.scenario, true).catch(showError); }
  });
  $("scenario-copy").addEventListener("click", function () {
    var name = $("scenario-copy-name").value.trim() || (state.scenario.name + " 副本 copy");
    var copy = { name: name, from: state.scenario.id };
    if ($("scenario-copy-rate").value.trim()) { copy.residents_per_aide = Number($("scenario-copy-rate").value); }
    api("POST", projectUrl() + "/scenarios", { json: copy }).then(function (s) {
      $("scenario-copy-name").value = "";
      $("scenario-copy-rate").value = "";
      showMessage("已保存为新方案：" + s.name, "Saved as a new scenario: " + s.name, "info");
      return loadScenarios(s.id);
    }).catch(showError);
  });
  $("exclude-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var id = $("exclude-id").value.trim();
    if (!id) { return; }
    $("exclude-id").value = "";
    edit({ op: "exclude", site_id: id }, "排除候选站址 exclude " + id);
  });
  $("scenario-rename").addEventListener("click", function () {
    var name = window.prompt("新名称 New name", state.scenario.name);
    if (!name || !name.trim() || name.trim() === state.scenario.name) { return; }
    api("PATCH", scenarioUrl(), { json: { name: name.trim() } }).then(function () {
      showMessage("已重命名为 " + name.trim(), "Renamed " + name.trim(), "info");
      return loadScenarios(state.scenario.id);
    }).catch(showError);
  });
  $("scenario-delete").addEventListener("click", function () {
    var name = state.scenario.name;
    if (!window.confirm("删除方案「" + name + "」？Delete the scenario " + name + "?")) { return; }
    api("DELETE", scenarioUrl()).then(function () {
      state.scenario = null;
      showMessage("已删除方案 " + name, "Deleted the scenario " + name, "info");
      return loadScenarios();
    }).catch(showError);
  });
  $("project-delete").addEventListener("click", function () {
    var name = state.project.name;
    if (!window.confirm("删除项目「" + name + "」及其全部方案？Delete the project " + name + " with all its scenarios?")) { return; }
    api("DELETE", projectUrl()).then(function () {
      state.project = null; state.scenario = null;
      showMessage("已删除项目 " + name, "Deleted the project " + name, "info");
      return loadProjects();
    }).catch(showError);
  });
  $("add-mode").addEventListener("click", function () {
    state.adding = !state.adding;
    $("add-mode").setAttribute("aria-pressed", String(state.adding));
    $("map").classList.toggle("adding", state.adding);
  });
  map.on("click", function (e) {
    if (!state.adding || !state.scenario || !editable()) { return; }
    var wgs = fromMap(e.latlng);
    edit({ op: "add", lon: wgs[0], lat: wgs[1], crs: "wgs84" }, "添加站点 add a station");
  });
  // Buttons inside popups and the station table.
  document.addEventListener("click", function (e) {
    var button = e.target.closest("button[data-action]");
    if (!button) { return; }
    var action = button.dataset.action;
    if (action === "add-at") {
      map.closePopup();
      var c = state.byCommunity[button.dataset.community];
      edit({ op: "add", community_id: button.dataset.community }, "在小区设站 station at " + (c ? c.name : button.dataset.community));
    } else if (action === "aides") {
      var field = document.querySelector('input[data-aides-for="' + cssEscape(button.dataset.station) + '"]');
      var count = field ? Math.round(Number(field.value)) : NaN;
      var target = state.stations[button.dataset.station];
      map.closePopup();
      edit({ op: "aides", station_id: button.dataset.station, aides: count }, "援助员 aides " + count + " · " + (target ? target.name || target.id : button.dataset.station));
    } else if (button.dataset.station) {
      stationAction(action, button.dataset.station);
    } else if (button.dataset.site) {
      map.closePopup();
      var site = button.dataset.site;
      edit({ op: action, site_id: site }, (action === "exclude" ? "排除候选站址 exclude " : "恢复候选站址 include ") + site);
    }
  });

  drawLegend();
  api("GET", "/api/config").catch(function () { return {}; }).then(function (config) {
    state.config = config || {};
    var user = state.config.user;
    if (state.config.login_required && !user && state.config.via !== "link") {
      window.location.href = "/login?next=" + encodeURIComponent(window.location.pathname + window.location.search);
      return null;
    }
    if (user) {
      $("who").innerHTML = "用户 user: " + esc(user) + ' <button type="button" id="logout">退出 Log out</button>';
      $("logout").addEventListener("click", function () {
        api("POST", "/api/logout").catch(function () { return null; }).then(function () { window.location.href = "/login"; });
      });
    } else if (state.config.via === "link") {
      $("who").textContent = "只读链接 read-only link";
      document.body.classList.add("read-only");
      $("new-project").disabled = true;
      $("add-mode").disabled = true;
      ["plan-run", "scenario-copy", "exclude-id", "scenario-rename", "scenario-delete", "project-delete"].forEach(function (id) { $(id).disabled = true; });
    }
    return drawBase();
  }).then(function () {
    var params = new URLSearchParams(window.location.search), link = state.config.link || {};
    state.wantedScenario = params.get("scenario") || link.scenario || null;
    return loadProjects(params.get("project") || link.project);
  }).then(function () {
    document.body.dataset.ready = "1";
  }).catch(function (error) { showError(error); document.body.dataset.ready = "error"; });

  window.quarterhourWorkspace = {
    map: map,
    state: state,
    toMap: toMap,
    fromMap: fromMap,
    drawnAt: function (id) {  // where a community's marker is drawn: [lng, lat] of the base map
      var m = communityMarkers[id];
      return m ? [m.getLatLng().lng, m.getLatLng().lat] : null;
    },
    drawnOutline: function () {  // [west, south, east, north] of the outline as drawn, or null
      var bounds = null;
      layers.boundary.eachLayer(function (layer) { bounds = layer.getBounds(); });
      return bounds ? [bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()] : null;
    },
    drawnSites: function () { return layers.sites.getLayers().length; },
    crs: window.quarterhourCrs
  };
})();
