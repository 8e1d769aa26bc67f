// Shared by the owner pages: number formats, the GraphQL call with the session,
// and the charts (Chart.js, served from static/vendor). A chart's data is the
// JSON of web/presenters.py's chart(): labels, series (with optional bands) and
// marked points.
(function () {
  "use strict";

  var SYMBOLS = { USD: "$", EUR: "€", GBP: "£", AUD: "A$", CAD: "C$" };

  function money(value, currency, places) {
    if (value === null || value === undefined || !isFinite(value)) { return "—"; }
    places = places || 0;
    var text = Math.abs(value).toLocaleString("en-US", {
      minimumFractionDigits: places, maximumFractionDigits: places,
    });
    var symbol = SYMBOLS[currency || "USD"];
    var sign = value < 0 && Number(text.replace(/,/g, "")) !== 0 ? "-" : "";
    return symbol ? sign + symbol + text : sign + currency + " " + text;
  }

  function percent(fraction, places) {
    if (fraction === null || fraction === undefined || !isFinite(fraction)) { return "—"; }
    places = places === undefined ? 1 : places;
    return (fraction * 100).toFixed(places) + "%";
  }

  function signedPercent(fraction, places) {
    if (fraction === null || fraction === undefined || !isFinite(fraction)) { return "—"; }
    var text = percent(fraction, places);
    return fraction >= 0 ? "+" + text : text;
  }

  function count(value) {
    if (value === null || value === undefined || !isFinite(value)) { return "—"; }
    return Math.round(value).toLocaleString("en-US");
  }

  function formatUnit(value, unit, currency) {
    if (unit === "rate") { return percent(value); }
    if (unit === "money") { return money(value, currency); }
    return count(value);
  }

  function monthName(isoDate) {
    var parts = isoDate.split("-");
    var date = new Date(Date.UTC(Number(parts[0]), Number(parts[1]) - 1, 1));
    return date.toLocaleString("en-US", { month: "short", year: "numeric", timeZone: "UTC" });
  }

  // --- the API -----------------------------------------------------------------

  var csrfToken = (document.querySelector('meta[name="csrf-token"]') || {}).content;

  // POST a GraphQL document with the session (and its CSRF token). Resolves to
  // the data; rejects with an Error whose message is the API's first error.
  function gql(query, variables) {
    return fetch("/graphql/", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken },
      body: JSON.stringify({ query: query, variables: variables || {} }),
    }).then(function (response) {
      return response.json().catch(function () {
        throw new Error("The server answered " + response.status + ".");
      });
    }).then(function (body) {
      if (body.errors && body.errors.length) {
        var error = new Error(body.errors[0].message);
        error.code = (body.errors[0].extensions || {}).code;
        throw error;
      }
      return body.data;
    });
  }

  // --- charts --------------------------------------------------------------------

  function withAlpha(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  function datasets(spec) {
    var out = [];
    spec.series.forEach(function (series) {
      if (series.lower && series.upper && spec.bandStyle === "lines") {
        // Overlapping bands (a comparison): each band's edges, dotted, in its colour.
        [["(low)", series.lower, true], ["", series.upper, false]].forEach(function (edge) {
          out.push({
            label: series.bandName + (edge[0] ? " " + edge[0] : ""), data: edge[1], helper: edge[2],
            band: !edge[2], borderColor: withAlpha(series.color, 0.75), backgroundColor: withAlpha(series.color, 0.75),
            borderWidth: 1.5, borderDash: [2, 3], pointRadius: 0, pointHitRadius: 0, fill: false,
            spanGaps: false, yAxisID: series.axis,
          });
        });
      } else if (series.lower && series.upper) {
        out.push({
          label: series.bandName + " (low)", data: series.lower, helper: true,
          borderWidth: 0, pointRadius: 0, pointHitRadius: 0, fill: false, spanGaps: false,
          yAxisID: series.axis,
        });
        out.push({
          label: series.bandName, data: series.upper, band: true,
          borderWidth: 0, pointRadius: 0, pointHitRadius: 0,
          backgroundColor: withAlpha(series.color, 0.16), fill: "-1", spanGaps: false,
          yAxisID: series.axis,
        });
      }
      out.push({
        label: series.name, data: series.values, borderColor: series.color,
        backgroundColor: series.color, borderWidth: 2, pointRadius: 0, pointHoverRadius: 4,
        pointHitRadius: 8, borderDash: series.dashed ? [6, 4] : [], fill: false, cubicInterpolationMode: "monotone",
        spanGaps: false, yAxisID: series.axis, lower: series.lower, upper: series.upper,
      });
    });
    (spec.marks || []).forEach(function (mark) {
      out.push({
        type: "scatter", label: mark.name, data: mark.points, notes: true,
        pointStyle: mark.shape, pointRadius: 7, pointHoverRadius: 9,
        backgroundColor: mark.color, borderColor: "#ffffff", borderWidth: 1,
      });
    });
    return out;
  }

  function tickFormatter(unit, currency) {
    return function (value) {
      if (unit === "money") {
        var abs = Math.abs(value);
        if (abs >= 1e6) { return money(value / 1e6, currency, 1) + "M"; }
        if (abs >= 1e4) { return money(value / 1e3, currency) + "k"; }
        return money(value, currency);
      }
      return formatUnit(value, unit, currency);
    };
  }

  function options(spec) {
    var scales = {
      x: { ticks: { autoSkip: true, maxRotation: 0, autoSkipPadding: 12 }, grid: { display: false } },
      y: {
        ticks: { callback: tickFormatter(spec.unit, spec.currency) },
        grid: { color: "#e8edf2" },
      },
    };
    if (spec.secondUnit) {
      scales.y2 = {
        position: "right", grid: { display: false },
        ticks: { callback: tickFormatter(spec.secondUnit, spec.currency) },
      };
    }
    return {
      responsive: true, maintainAspectRatio: false, animation: false,
      interaction: { mode: "index", intersect: false },
      scales: scales,
      plugins: {
        legend: {
          position: "bottom",
          labels: {
            boxWidth: 14, usePointStyle: true,
            filter: function (item, data) { return !data.datasets[item.datasetIndex].helper; },
          },
        },
        tooltip: {
          filter: function (item) {
            var ds = item.dataset;
            return !ds.helper && !ds.band && item.raw !== null;
          },
          callbacks: {
            label: function (item) {
              var ds = item.dataset;
              var unit = ds.yAxisID === "y2" ? spec.secondUnit : spec.unit;
              if (ds.notes) {
                return ds.label + ": " + item.raw.note + " (" + formatUnit(item.raw.y, unit, spec.currency) + ")";
              }
              var text = ds.label + ": " + formatUnit(item.raw, unit, spec.currency);
              if (ds.lower && ds.upper && ds.lower[item.dataIndex] !== null && ds.lower[item.dataIndex] !== undefined) {
                text += " (" + formatUnit(ds.lower[item.dataIndex], unit, spec.currency) + " – " +
                  formatUnit(ds.upper[item.dataIndex], unit, spec.currency) + ")";
              }
              return text;
            },
          },
        },
      },
    };
  }

  function drawChart(canvas, spec) {
    return new window.Chart(canvas, {
      type: "line",
      data: { labels: spec.labels, datasets: datasets(spec) },
      options: options(spec),
    });
  }

  function updateChart(chart, spec) {
    chart.data.labels = spec.labels;
    chart.data.datasets = datasets(spec);
    chart.options = options(spec);
    chart.update();
  }

  function drawAll() {
    var charts = {};
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var source = document.getElementById(canvas.dataset.chart);
      if (!source || !window.Chart) { return; }
      charts[canvas.id] = drawChart(canvas, JSON.parse(source.textContent));
    });
    return charts;
  }

  // --- saving the prediction on screen as a scenario ---------------------------------

  var SAVE = "mutation Save($input: ScenarioSaveInput!) {\n" +
    "  saveScenario(input: $input) { scenarioId shareableUrl }\n}";

  // The save form of _save_form.html (absent for viewers): saveScenario with the
  // id of the prediction currently shown, which predictionId() returns.
  function bindSaveForm(studioId, predictionId) {
    var form = document.getElementById("save-form");
    if (!form) { return; }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var saveStatus = document.getElementById("save-status");
      var name = form.elements.name.value.trim();
      if (!name) {
        saveStatus.className = "error";
        saveStatus.textContent = "Give the scenario a name.";
        form.elements.name.focus();
        return;
      }
      var button = document.getElementById("save-button");
      button.disabled = true;
      saveStatus.className = "";
      saveStatus.textContent = "Saving…";
      gql(SAVE, { input: {
        studioId: studioId, predictionId: predictionId(), scenarioName: name,
        description: form.elements.description.value,
        tags: form.elements.tags.value.split(",").map(function (t) { return t.trim(); }).filter(Boolean),
      } }).then(function (result) {
        saveStatus.className = "success";
        saveStatus.textContent = "Saved. ";
        var link = document.createElement("a");
        link.href = result.saveScenario.shareableUrl;
        link.textContent = "Open “" + name + "”";
        saveStatus.appendChild(link);
      }).catch(function (error) {
        saveStatus.className = "error";
        saveStatus.textContent = "Not saved: " + error.message;
      }).then(function () { button.disabled = false; });
    });
    // Disabled in the page until now: pressed before the handler was bound,
    // the form would be sent as a plain GET and the page reloaded.
    document.getElementById("save-button").disabled = false;
  }

  window.Studiosim = {
    money: money, percent: percent, signedPercent: signedPercent, count: count,
    formatUnit: formatUnit, monthName: monthName, gql: gql,
    drawChart: drawChart, updateChart: updateChart, bindSaveForm: bindSaveForm, charts: {},
  };

  document.addEventListener("DOMContentLoaded", function () {
    window.Studiosim.charts = drawAll();
  });
})();
