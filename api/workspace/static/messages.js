/* The service's error messages (English, naming file, row and field) said in Chinese too, for the
 * workspace page: the file, the rows and the field are taken from the message, the problem from
 * a table of known phrasings. Exposed as window.quarterhourMessages. */
(function () {
  "use strict";

  var PROBLEMS = [
    [/is not a number/, "不是数字"],
    [/is empty/, "为空"],
    [/must be a non-negative number/, "必须是非负数"],
    [/is outside -?[\d.]+\.\.[\d.]+/, "超出取值范围"],
    [/swapped/, "经度和纬度似乎互换了"],
    [/duplicate|repeated|more than once/i, "编号重复"],
    [/need a (lon|lat)/, "缺少经度或纬度列"],
    [/no coordinate system was given|coordinate system/, "未指定坐标系"],
    [/no column/, "没有这一列"],
    [/cannot read|old Excel/, "无法读取此文件格式"],
    [/no .* rows/, "没有数据行"],
    [/too large|too many|exceeds|over the limit/i, "文件或行数超出上限"],
    [/within 500 m of a street|off.network|farther than|miss the network|outside the network/i, "没有一个点在本服务的路网范围内（500 米内无街道）：请确认坐标系，或换用覆盖该区的路网"],
    [/inside the boundary/i, "没有一个点在区界内：请确认区界文件和坐标系"],
    [/cannot be read as/i, "无法读取此文件"],
    [/at least one scenario/i, "项目至少保留一个方案"],
    [/at most .* scenarios/i, "方案数量已达上限，请先删除一些"],
    [/minutes or meters, not both/i, "分钟和米只能选一个"],
    [/busy|try again/i, "服务器繁忙，请稍后重试"],
    [/role|permission|not allowed|forbidden|read-only|owner|editor/i, "没有权限：您在此项目的角色不够"],
    [/log ?in|session|password/i, "请先登录"],
    [/not found|no project|no scenario/i, "未找到"]
  ];

  function chineseOf(message) {
    var text = String(message || "");
    var file = (text.match(/^([^:：]+\.(?:csv|txt|xlsx|xlsm|geojson|json|gpkg|xls))\s*:/i) || [])[1];
    var rows = text.match(/\b(rows?|features?) (\d+(?:, \d+)*(?: and \d+ more)?)/);
    var field = (text.match(/'([^']+)'/) || [])[1];
    var problem = null;
    for (var i = 0; i < PROBLEMS.length; i++) {
      if (PROBLEMS[i][0].test(text)) { problem = PROBLEMS[i][1]; break; }
    }
    var parts = [];
    if (file) { parts.push("文件 " + file); }
    if (rows) {
      var feature = rows[1].indexOf("feature") === 0, more = rows[2].match(/ and (\d+) more/);
      parts.push("第 " + rows[2].replace(/ and \d+ more/, "") + (feature ? " 个要素" : " 行") +
        (more ? "等（另有 " + more[1] + (feature ? " 个）" : " 行）") : ""));
    }
    if (field) { parts.push("字段「" + field + "」"); }
    parts.push(problem || "请求未能完成");
    return parts.join("，");
  }

  function errorItems(body, status) {
    var detail = body && body.detail;
    var messages;
    if (Array.isArray(detail)) {
      messages = detail.map(function (d) {
        var where = d.loc && d.loc.length > 1 ? " [" + d.loc.slice(1).join(".") + "]" : "";
        return (d.msg || JSON.stringify(d)) + (d.msg && /row|feature|file|\.csv|\.xlsx/.test(d.msg) ? "" : where);
      });
    } else if (typeof detail === "string") {
      messages = [detail];
    } else {
      messages = ["HTTP " + status];
    }
    return messages.map(function (m) { return { zh: chineseOf(m), en: m }; });
  }

  window.quarterhourMessages = { chineseOf: chineseOf, errorItems: errorItems };
})();
