(function(){
  var name = document.body.getAttribute('data-trial');
  var after = parseInt(document.body.getAttribute('data-after') || '0', 10);
  var version = document.body.getAttribute('data-version') || '';
  var list = document.getElementById('events');
  var state = document.getElementById('live');
  function tick(){
    fetch('/api/trial/' + encodeURIComponent(name) + '?after=' + after + '&v=' + encodeURIComponent(version), {cache: 'no-store'})
      .then(function(r){ return r.json(); })
      .then(function(d){
        if (d.events_html) { list.insertAdjacentHTML('beforeend', d.events_html); }
        after = d.after;
        if (d.changed) {
          version = d.version;
          Object.keys(d.sections).forEach(function(id){
            var el = document.getElementById(id);
            if (el) { el.innerHTML = d.sections[id]; }
          });
        }
        if (state) { state.textContent = 'live · ' + d.status + ' · updated ' + new Date().toLocaleTimeString(); }
      })
      .catch(function(){ if (state) { state.textContent = 'live · viewer unreachable'; } })
      .then(function(){ setTimeout(tick, 1000); });
  }
  setTimeout(tick, 1000);
})();
