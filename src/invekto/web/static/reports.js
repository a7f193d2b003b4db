/* The reports dashboard's chart: the day-by-day series the page carries as JSON (#chart-days-data),
   drawn with Chart.js. The same numbers are in the table under it, for screen readers and print. */
(() => {
  const canvas = document.getElementById("chart-days");
  const source = document.getElementById("chart-days-data");
  if (!canvas || !source || !window.Chart) return;
  const { labels, series } = JSON.parse(source.textContent);
  const colours = ["#206bc4", "#2fb344", "#f59f00", "#ae3ec9"];
  const language = document.documentElement.lang || "tr";
  const dayLabel = new Intl.DateTimeFormat(language, { day: "numeric", month: "short" });
  new window.Chart(canvas, {
    type: "line",
    data: {
      labels: labels.map((day) => dayLabel.format(new Date(`${day}T12:00:00`))),
      datasets: series.map((line, index) => ({
        label: line.label, data: line.data, borderColor: colours[index % colours.length],
        backgroundColor: colours[index % colours.length], tension: 0.25, pointRadius: 2,
      })),
    },
    options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      interaction: { mode: "index", intersect: false },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      plugins: { legend: { position: "bottom" } },
    },
  });
})();
