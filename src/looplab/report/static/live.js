(function(){
  var version = document.body.getAttribute('data-version') || '';
  var state = document.getElementById('live');
  function tick(){
    fetch('/api/state?v=' + encodeURIComponent(version), {cache: 'no-store'})
      .then(function(r){ return r.json(); })
      .then(function(d){
        if (d.changed) {
          version = d.version;
          Object.keys(d.sections).forEach(function(id){
            var el = document.getElementById(id);
            if (el) { el.innerHTML = d.sections[id]; }
          });
        }
        if (state) { state.textContent = 'live · updated ' + new Date().toLocaleTimeString(); }
      })
      .catch(function(){ if (state) { state.textContent = 'live · viewer unreachable'; } })
      .then(function(){ setTimeout(tick, 1000); });
  }
  setTimeout(tick, 1000);
})();
