// chainrule's report: pass viewer, pan/zoom, click-to-show, search, mirror layout. No libraries.
(function(){
  var secs = document.querySelectorAll('section.pass'), nav = document.getElementById('passes');
  var body = document.body, cur = -1, views = {}, facts = [], matches = [], matchAt = -1;
  var READABLE = 1.0;   // 1:1 = 14 px node text; the view never opens smaller than this
  var MAX_OPEN = 1.6;   // a small graph opens fitted, but not larger than this

  function layout(){ return body.classList.contains('mirror') ? 'mirror' : 'normal'; }
  function pic(i){ return secs[i].querySelector('.pic.' + layout()); }
  function viewEl(i){ return secs[i].querySelector('.view'); }
  function size(p){  // the picture's size in px at scale 1 (one SVG unit = one px)
    var svg = p.querySelector('svg'), vb = svg.viewBox && svg.viewBox.baseVal;
    if (vb && vb.width) { svg.setAttribute('width', vb.width); svg.setAttribute('height', vb.height); return {w: vb.width, h: vb.height}; }
    var r = svg.getBBox(); return {w: r.width, h: r.height};
  }
  function key(i){ return i + ':' + layout(); }
  function apply(i){
    var v = views[key(i)], p = pic(i);
    p.style.transform = 'translate(' + v.x + 'px,' + v.y + 'px) scale(' + v.s + ')';
    body.dataset.view = JSON.stringify({x: Math.round(v.x), y: Math.round(v.y), s: +v.s.toFixed(4)});
  }
  function fitScale(i){
    var z = size(pic(i)), el = viewEl(i);
    return Math.min(el.clientWidth / (z.w + 20), el.clientHeight / (z.h + 20));
  }
  function fit(i){
    var z = size(pic(i)), el = viewEl(i), s = fitScale(i);
    views[key(i)] = {s: s, x: (el.clientWidth - z.w * s) / 2, y: (el.clientHeight - z.h * s) / 2}; apply(i);
  }
  function readable(i){  // 1:1 (or fitted, if the whole graph fits larger): centred, else from the top,
    // centred on the picture's focus (the mirror's divide) or its middle
    var z = size(pic(i)), el = viewEl(i), s = Math.max(READABLE, Math.min(fitScale(i), MAX_OPEN));
    var w = z.w * s, h = z.h * s, focus = +(pic(i).querySelector('svg').dataset.focus || z.w / 2);
    var x = w < el.clientWidth ? (el.clientWidth - w) / 2 : Math.min(10, Math.max(el.clientWidth - w - 10, el.clientWidth / 2 - focus * s));
    views[key(i)] = {s: s, x: x, y: h < el.clientHeight ? (el.clientHeight - h) / 2 : 10};
    apply(i);
  }
  function ensure(i){ if (!views[key(i)]) readable(i); else apply(i); }
  function zoomAt(i, factor, cx, cy){
    var v = views[key(i)], s = Math.min(8, Math.max(0.05, v.s * factor)); factor = s / v.s;
    v.x = cx - (cx - v.x) * factor; v.y = cy - (cy - v.y) * factor; v.s = s; apply(i);
  }
  function centreOn(i, g){
    var el = viewEl(i), v = views[key(i)], r = g.getBoundingClientRect(), e = el.getBoundingClientRect();
    v.x += e.left + e.width / 2 - (r.left + r.width / 2); v.y += e.top + e.height / 2 - (r.top + r.height / 2); apply(i);
  }
  function idOf(g){ var t = g.querySelector('title'); return t ? t.textContent : ''; }
  function nodesOf(i){ return secs[i].querySelectorAll('.pic.' + layout() + ' g.node'); }

  function mark(i){  // outline what this pass added, rewrote or removed, in both pictures
    var all = secs[i].querySelectorAll('g.node'), f = facts[i];
    for (var k = 0; k < all.length; k++) {
      var d = f[idOf(all[k])];
      if (d && d.change) all[k].classList.add(d.change);
    }
  }
  function esc(s){ return String(s).replace(/[&<>"]/g, function(c){ return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]; }); }
  function show(id){  // the side panel for one node or value
    var d = facts[cur][id], info = document.getElementById('info');
    var sel = secs[cur].querySelectorAll('g.node.selected, .ln.selected');
    for (var k = 0; k < sel.length; k++) sel[k].classList.remove('selected');
    if (!d) { info.innerHTML = '<p class="hint">%' + esc(id.slice(2)) + ': no details</p>'; return; }
    var gs = secs[cur].querySelectorAll('g.node');
    for (var k = 0; k < gs.length; k++) if (idOf(gs[k]) == id) gs[k].classList.add('selected');
    var rows = [];
    function row(k, v){ if (v !== null && v !== undefined && v !== '') rows.push('<dt>' + k + '</dt><dd>' + esc(v) + '</dd>'); }
    row('op', d.op); row('phase', d.phase); row('kind', d.kind);
    row('made by', d.by === 'frontend' ? 'the frontend' : d.by);
    row('gradient of', d.of ? '%' + d.of : null); row('source', d.source);
    row('change', d.change ? d.change + (d.change == 'added' ? ' by this pass' : ' (' + d.why + ')') : null);
    row('was', d.was); row('scheduled', d.task); row('used by', d.uses && d.uses.length ? d.uses.map(function(u){ return '%' + u; }).join(', ') : null);
    info.innerHTML = '<h2>%' + esc(d.name) + '</h2><pre class="line">' + esc(d.line) + '</pre>' +
      (d.rule ? '<div class="rule" title="chain rule">' + esc(d.rule) + '</div>' : '') + '<dl>' + rows.join('') + '</dl>' +
      (d.loops ? '<details class="loops"><summary>its loops</summary><pre class="line">' + esc(d.loops) + '</pre></details>' : '');
    var ln = document.querySelector('#ir-pane .ln[data-name="' + (window.CSS && CSS.escape ? CSS.escape(d.name) : d.name) + '"]');
    if (ln) ln.classList.add('selected');
    body.dataset.selected = d.name;
  }
  function search(q, step){
    var gs = nodesOf(cur);
    for (var k = 0; k < gs.length; k++) gs[k].classList.remove('match');
    matches = []; q = q.trim().replace(/^%/, '').toLowerCase();
    var st = document.getElementById('search-status');
    if (!q) { st.textContent = ''; return; }
    var exact = [], part = [];
    for (var k = 0; k < gs.length; k++) {
      var name = idOf(gs[k]).slice(2).toLowerCase();
      if (name == q) exact.push(gs[k]); else if (name.indexOf(q) >= 0) part.push(gs[k]);
    }
    matches = exact.concat(part);
    for (var k = 0; k < matches.length; k++) matches[k].classList.add('match');
    if (!matches.length) { st.textContent = 'no match'; return; }
    matchAt = step ? (matchAt + 1) % matches.length : 0;
    st.textContent = (matchAt + 1) + ' of ' + matches.length;
    centreOn(cur, matches[matchAt]); show(idOf(matches[matchAt]));
  }
  function go(i){
    if (i < 0 || i >= secs.length) return; cur = i;
    for (var k = 0; k < secs.length; k++) { secs[k].classList.toggle('shown', k == i); nav.children[k].classList.toggle('current', k == i); }
    document.getElementById('status').textContent = 'pass ' + i + ' of ' + (secs.length - 1) + ': ' + secs[i].dataset.pass;
    document.getElementById('diff-pane').innerHTML = secs[i].querySelector('.diff').innerHTML;
    document.getElementById('ir-pane').innerHTML = secs[i].querySelector('.ir').innerHTML;
    document.getElementById('kernels-pane').innerHTML = secs[i].querySelector('.kernels').innerHTML;
    ensure(i);
    var q = document.getElementById('search').value; if (q) search(q, false);
    else if (body.dataset.selected && facts[i]['n:' + body.dataset.selected]) show('n:' + body.dataset.selected);
  }
  function toggleLayout(){
    body.classList.toggle('mirror');
    document.getElementById('layout-toggle').classList.toggle('on', layout() == 'mirror');
    ensure(cur);
  }

  for (var k = 0; k < secs.length; k++) {
    facts.push(JSON.parse(secs[k].querySelector('script.facts').textContent));
    var a = document.createElement('a'); a.textContent = secs[k].dataset.label;
    a.className = 'navitem' + (secs[k].dataset.changed == 'false' ? ' unchanged' : '');
    a.onclick = (function(i){ return function(){ go(i); }; })(k); nav.appendChild(a);
    mark(k);
    (function(i){
      var el = viewEl(i), drag = null;
      el.addEventListener('wheel', function(e){
        e.preventDefault(); var r = el.getBoundingClientRect();
        zoomAt(i, Math.exp(-e.deltaY * 0.0015), e.clientX - r.left, e.clientY - r.top);
      }, {passive: false});
      el.addEventListener('mousedown', function(e){
        if (e.button != 0) return;
        drag = {x: e.clientX, y: e.clientY, vx: views[key(i)].x, vy: views[key(i)].y, moved: 0};
        el.classList.add('dragging'); e.preventDefault();
      });
      window.addEventListener('mousemove', function(e){
        if (!drag) return; var v = views[key(i)];
        drag.moved = Math.max(drag.moved, Math.abs(e.clientX - drag.x) + Math.abs(e.clientY - drag.y));
        v.x = drag.vx + e.clientX - drag.x; v.y = drag.vy + e.clientY - drag.y; apply(i);
      });
      window.addEventListener('mouseup', function(e){
        if (!drag) return; var moved = drag.moved; drag = null; el.classList.remove('dragging');
        if (moved < 4) {  // a click, not a drag
          var g = e.target.closest ? e.target.closest('g.node') : null;
          if (g) show(idOf(g));
        }
      });
    })(k);
  }
  var gantt = document.getElementById('schedule-pane');  // a task: its first node, in the last pass
  if (gantt) gantt.addEventListener('click', function(e){
    var t = e.target.closest ? e.target.closest('g.task') : null;
    if (!t) return;
    go(secs.length - 1); show('n:' + t.dataset.node);
    var g = null, gs = nodesOf(cur);
    for (var k = 0; k < gs.length; k++) if (idOf(gs[k]) == 'n:' + t.dataset.node) g = gs[k];
    if (g) centreOn(cur, g);
  });
  document.getElementById('prev').onclick = function(){ go(cur - 1); };
  document.getElementById('next').onclick = function(){ go(cur + 1); };
  document.getElementById('layout-toggle').onclick = toggleLayout;
  document.getElementById('fit').onclick = function(){ fit(cur); };
  document.getElementById('one').onclick = function(){ readable(cur); };
  var box = document.getElementById('search');
  box.addEventListener('input', function(){ search(box.value, false); });
  box.addEventListener('keydown', function(e){ if (e.key == 'Enter') search(box.value, true); });
  document.addEventListener('keydown', function(e){
    if (e.target == box) return;
    if (e.key == 'ArrowLeft') go(cur - 1); else if (e.key == 'ArrowRight') go(cur + 1);
    else if (e.key == 'm') toggleLayout(); else if (e.key == 'f') fit(cur); else if (e.key == '1') readable(cur);
    else if (e.key == '/') { e.preventDefault(); box.focus(); }
  });
  window.addEventListener('resize', function(){ views = {}; ensure(cur); });
  // open on the pass named in the address (#autodiff, #mirror:autodiff) or the first that changed something
  var want = decodeURIComponent(location.hash.slice(1)), first = -1;
  if (want.indexOf('mirror:') == 0) { want = want.slice(7); body.classList.add('mirror'); document.getElementById('layout-toggle').classList.add('on'); }
  for (var k = 0; k < secs.length; k++) if (want && (secs[k].dataset.pass == want || secs[k].dataset.label == want)) { first = k; break; }
  if (first < 0) for (var k = 1; k < secs.length; k++) if (secs[k].dataset.changed == 'true') { first = k; break; }
  go(first < 0 ? 0 : first);
})();
