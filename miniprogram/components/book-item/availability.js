// Availability of a title as plain Chinese lines (shared by the book-item component,
// the search page and the title page, and unit-tested on its own).
//
// `availability` is the API's Availability object:
//   { room, room_name, on_shelf_here, nearby: [{room, name, town, on_shelf, distance_km}], rooms_on_shelf }

function hereText(availability) {
  const a = availability || {};
  if (a.on_shelf_here === null || a.on_shelf_here === undefined) {
    // No reference room (not logged in, no room chosen yet).
    return '';
  }
  if (a.on_shelf_here > 0) return `本书屋在架 ${a.on_shelf_here} 本`;
  return '本书屋暂时没有在架';
}

function distanceText(km) {
  if (km === null || km === undefined) return '';
  if (km < 1) return `约 ${Math.max(100, Math.round(km * 10) * 100)} 米`;
  return `约 ${km.toFixed(1)} 公里`;
}

function nearbyText(availability, max) {
  const a = availability || {};
  const rooms = (a.nearby || []).slice(0, max || 2);
  if (!rooms.length) return '';
  return '附近：' + rooms.map((r) => `${r.name} ${r.on_shelf} 本`).join('，');
}

// The one-line summary a search result shows, and its tone for the status icon.
function summary(availability) {
  const a = availability || {};
  const here = hereText(a);
  const nearby = nearbyText(a, 2);
  let tone = 'none';
  if (a.on_shelf_here > 0) tone = 'here';
  else if ((a.nearby || []).length || a.rooms_on_shelf > 0) tone = 'nearby';
  let district = '';
  if (!here && !nearby) {
    district = a.rooms_on_shelf > 0 ? `全区 ${a.rooms_on_shelf} 个书屋有在架` : '暂时没有书屋在架，可以预约';
  }
  return { here, nearby, district, tone };
}

module.exports = { hereText, nearbyText, distanceText, summary };
