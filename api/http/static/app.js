/* quarterhour planners' map: streets, communities, stations, isochrones, routes and station plans.
 * Plain script, no build step, no network access beyond this server (works offline). */
(function () {
  "use strict";

  var ATTRIBUTION = "© OpenStreetMap contributors (ODbL)";
  var COVERED = "#1a9850", UNCOVERED = "#d73027", STATION = "#2c7bb6", PLANNED = "#7b3294", ROUTE = "#e6550d";

  var map = L.map("map", { preferCanvas: true, zoomControl: true, attributionControl: true });
  map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
  map.attributionControl.addAttribution(ATTRIBUTION);
  var svg = L.svg({ padding: 0.5 });  // isochrones and plans as SVG paths: crisp, and testable
  var statusBox = document.getElementById("status");
  var summaryBox = document.getElementById("summary");
  var speedInput = document.getElementById("speed");

  var layers = {
    network: L.layerGroup().addTo(map),
    communities: L.layerGroup().addTo(map),
    stations: L.layerGroup().addTo(map),
    isochrones: L.layerGroup().addTo(map),
    routes: L.layerGroup().addTo(map),
    planned: L.layerGroup().addTo(map)
  };
  L.control.layers(null, {
    "街道 streets": layers.network,
    "小区 communities": layers.communities,
    "现有站点 stations": layers.stations,
    "步行范围 isochrones": layers.isochrones,
    "步行路线 routes": layers.routes,
    "规划站点 proposed": layers.planned
  }, { collapsed: true }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);

  var communityMarkers = {};  // id -> circle marker

  function setStatus(text, isError) {
    statusBox.textContent = text;
    statusBox.className = isError ? "error" : "";
  }

  function errorText(body, status) {
    if (body && Array.isArray(body.detail)) {
      return body.detail.map(function (d) { return d.msg; }).join("; ");
    }
    return "HTTP " + status;
  }

  function getJSON(url, options) {
    return fetch(url, options).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) { throw new Error(errorText(body, response.status)); }
        return body;
      });
    });
  }

  function speed() {
    var value = parseFloat(speedInput.value);
    return isFinite(value) && value >= 0.5 && value <= 20 ? value : 4.5;
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function drawNetwork(collection) {
    var lines = L.geoJSON(collection, { style: { color: "#888", weight: 1, opacity: 0.8 }, interactive: false });
    layers.network.addLayer(lines);
    map.fitBounds(lines.getBounds());
  }

  function setCovered(marker, covered) {
    marker.setStyle({ color: covered ? COVERED : UNCOVERED, fillColor: covered ? COVERED : UNCOVERED });
  }

  function drawCommunities(collection) {
    collection.features.forEach(function (feature) {
      var c = feature.geometry.coordinates, p = feature.properties;
      // A click on a community draws its route to its station, not an isochrone of the map.
      var marker = L.circleMarker([c[1], c[0]], {
        radius: 3, weight: 1, fillOpacity: 0.8, bubblingMouseEvents: false, className: "community"
      });
      setCovered(marker, p.covered);
      marker.bindTooltip(escapeHtml(p.name) + (p.walk_min != null ? " · " + p.walk_min.toFixed(1) + " min" : ""));
      marker.on("click", function () { drawRoute(p.name, c); });
      communityMarkers[p.id] = marker;
      layers.communities.addLayer(marker);
    });
  }

  function drawStations(collection, layer, colour, className) {
    return L.geoJSON(collection, {
      pointToLayer: function (feature, latlng) {
        return L.circleMarker(latlng, {
          radius: 7, color: "#fff", weight: 2, fillColor: colour, fillOpacity: 1, renderer: svg, className: className
        });
      },
      onEachFeature: function (feature, marker) {
        var p = feature.properties;
        marker.bindTooltip(escapeHtml(p.name || p.id || p.station_id) + (p.rank ? " #" + p.rank : ""));
      }
    }).addTo(layer);
  }

  function drawIsochrone(latlng) {
    var url = "/isochrone?lon=" + latlng.lng.toFixed(6) + "&lat=" + latlng.lat.toFixed(6) +
      "&contours=5&contours=10&contours=15&speed_kmh=" + speed();
    setStatus("计算步行范围 Computing walking areas…");
    return getJSON(url).then(function (collection) {
      layers.isochrones.clearLayers();
      L.geoJSON(collection, {
        style: function (feature) {
          var p = feature.properties;
          return { color: p.color, fillColor: p.fillColor, fillOpacity: 0.3, weight: 1.5, renderer: svg,
                   className: "isochrone isochrone-" + p.contour };
        },
        onEachFeature: function (feature, layer) {
          layer.bindTooltip(feature.properties.contour + " 分钟 min");
        }
      }).addTo(layers.isochrones);
      L.circleMarker(latlng, { radius: 4, color: "#000", renderer: svg }).addTo(layers.isochrones);
      document.body.dataset.isochrones = String(collection.features.length);
      setStatus("步行 5/10/15 分钟范围 5/10/15-minute walking areas at " + speed() + " km/h");
    }).catch(function (error) { setStatus(error.message, true); });
  }

  function drawRoute(name, coordinates) {
    var url = "/nearest?k=1&lon=" + coordinates[0].toFixed(6) + "&lat=" + coordinates[1].toFixed(6) +
      "&speed_kmh=" + speed();
    setStatus("计算步行路线 Computing the walking route…");
    return getJSON(url).then(function (collection) {
      layers.routes.clearLayers();
      var feature = collection.features[0], p = feature.properties;
      var text = escapeHtml(name) + " → " + escapeHtml(p.name || p.station_id) + " · 步行 " +
        p.minutes.toFixed(1) + " 分钟 min · " + Math.round(p.meters) + " 米 m";
      var line = L.geoJSON(feature, {
        style: { color: ROUTE, weight: 5, opacity: 0.9, renderer: svg, className: "route" },
        onEachFeature: function (f, layer) { layer.bindTooltip(text); }
      }).addTo(layers.routes);
      if (!map.getBounds().contains(line.getBounds())) {
        map.fitBounds(line.getBounds(), { padding: [40, 40], animate: false });
      }
      document.body.dataset.route = p.minutes.toFixed(2);
      setStatus(text);
    }).catch(function (error) { setStatus(error.message, true); });
  }

  function showSummary(summary) {
    var rows = [
      ["新站点 new stations", summary.n_new],
      ["覆盖小区 covered", summary.covered + " / " + summary.n_communities],
      ["覆盖率 share", (100 * summary.covered_share).toFixed(1) + "%"],
      ["无法覆盖 uncoverable", summary.uncoverable],
      ["方法 method", summary.method]
    ];
    summaryBox.innerHTML = "<table>" + rows.map(function (r) {
      return "<tr><td>" + r[0] + "</td><td>" + escapeHtml(r[1]) + "</td></tr>";
    }).join("") + "</table>";
  }

  function runPlan() {
    setStatus("规划中 Planning…");
    var body = JSON.stringify({ speed_kmh: speed(), time_limit_s: 10 });
    return getJSON("/plan", { method: "POST", headers: { "Content-Type": "application/json" }, body: body })
      .then(function (answer) {
        layers.planned.clearLayers();
        var newOnes = { type: "FeatureCollection", features: answer.stations.features.filter(function (f) {
          return f.properties.kind === "new" && f.geometry;
        }) };
        drawStations(newOnes, layers.planned, PLANNED, "planned-station");
        var covered = {};
        answer.covered_ids.forEach(function (id) { covered[id] = true; });
        Object.keys(communityMarkers).forEach(function (id) { setCovered(communityMarkers[id], !!covered[id]); });
        showSummary(answer.summary);
        document.body.dataset.planned = String(newOnes.features.length);
        setStatus("已规划 " + newOnes.features.length + " 个新站点 proposed new stations");
      }).catch(function (error) { setStatus(error.message, true); });
  }

  map.on("click", function (event) { drawIsochrone(event.latlng); });
  document.getElementById("plan-button").addEventListener("click", runPlan);
  document.getElementById("clear-button").addEventListener("click", function () {
    layers.isochrones.clearLayers();
    layers.routes.clearLayers();
    layers.planned.clearLayers();
    summaryBox.innerHTML = "";
    setStatus("");
  });

  Promise.all([
    getJSON("/health"),
    getJSON("/network").then(drawNetwork),
    getJSON("/stations").then(function (c) { drawStations(c, layers.stations, STATION, "station"); })
  ]).then(function (results) {
    var health = results[0];
    setStatus(health.network + " · " + health.n_communities + " 小区 communities · " + health.n_stations + " 站点 stations");
    return health.n_communities > 0 ? getJSON("/communities").then(drawCommunities) : null;
  }).then(function () {
    document.body.dataset.ready = "1";
  }).catch(function (error) { setStatus(error.message, true); });

  window.quarterhourMap = map;
})();
