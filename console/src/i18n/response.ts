// Messages of the response controls added after the alerting pages (route editing, multi-condition
// suppressions, case attachments and owner, receipts, the push key, API validation problems), kept
// apart from `alerting.ts` so both stay short and merge cleanly; `zh.ts` and `en.ts` spread them in.
export const responseZh = {
  "problem.title": "提交未通过校验",
  "problem.field": "{field}：{msg}",

  "routes.new": "新建路由",
  "routes.edit": "编辑",
  "routes.editTitle": "编辑路由 {name}",
  "routes.delete": "删除",
  "routes.deleteConfirm": "删除路由 {name}？此操作记入审计账本。",
  "routes.deleted": "已删除路由 {name}",
  "routes.readOnly": "配置文件（只读）",
  "routes.nameHelp": "小写字母、数字、_ . -，以字母或数字开头",
  "routes.nameTaken": "已有同名路由：API 路由请用“编辑”修改，配置文件中的路由只读",
  "routes.hoursHelp": "本地时间 HH:MM-HH:MM，可跨零点（如 22:00-06:00）；留空为全天",
  "routes.tagsHelp": "任一标签命中即可；以 . 结尾的标签按前缀匹配",
  "routes.sourcesHelp": "事件的采集来源（observer.collector）",
  "routes.anyHelp": "留空表示不限",
  "routes.kind.alert": "告警",
  "routes.kind.escalation": "超时升级",
  "routes.kind.bulletin": "简报",
  "routes.pushKey": "下载 SM2 推送公钥",

  "suppressions.addCondition": "添加条件",
  "suppressions.removeCondition": "删除此条件",
  "suppressions.conditionsHelp": "所有条件同时满足才抑制（最多 {max} 条）；不加条件则抑制该规则的全部告警",
  "suppressions.and": "且",

  "cases.setOwner": "指定负责人",
  "cases.ownerHelp": "账户名；留空为无人负责",
  "cases.upload": "上传附件",
  "cases.uploaded": "已上传 {name}",
  "cases.tooLarge": "{name} 超过 {max} MiB 的附件上限",
  "cases.download": "下载",
  "cases.fileName": "文件名",
  "cases.mediaType": "类型",
  "cases.size": "大小（字节）",
  "cases.noAttachments": "暂无附件",

  "alerts.receipt": "登记上级回执",
  "alerts.receiptChannel": "回执来自的渠道",

  "list.more": "加载更多",
  "suppressions.suppressed": "被抑制的告警",
  "suppressions.suppressedIntro": "这些告警已入库并计数，但被抑制例外覆盖，不进入队列、不通报。",
  "suppressions.coveredBy": "所依例外",
  "suppressions.subject": "对象（用户 · 资产 · IP）",
  "suppressions.noneSuppressed": "暂无被抑制的告警",
} as const;

export type ResponseKey = keyof typeof responseZh;

export const responseEn: Record<ResponseKey, string> = {
  "problem.title": "The request did not pass validation",
  "problem.field": "{field}: {msg}",

  "routes.new": "New route",
  "routes.edit": "Edit",
  "routes.editTitle": "Edit route {name}",
  "routes.delete": "Delete",
  "routes.deleteConfirm": "Delete route {name}? This is recorded in the audit ledger.",
  "routes.deleted": "Route {name} deleted",
  "routes.readOnly": "Settings file (read-only)",
  "routes.nameHelp": "Lowercase letters, digits, _ . -, starting with a letter or digit",
  "routes.nameTaken": "A route of this name exists: edit an API route with Edit; routes from the settings file are read-only",
  "routes.hoursHelp": "Local time HH:MM-HH:MM, may wrap midnight (e.g. 22:00-06:00); empty for all day",
  "routes.tagsHelp": "Any tag matches; a tag ending in . matches as a prefix",
  "routes.sourcesHelp": "The events' collector (observer.collector)",
  "routes.anyHelp": "Empty for any",
  "routes.kind.alert": "Alert",
  "routes.kind.escalation": "Escalation",
  "routes.kind.bulletin": "Bulletin",
  "routes.pushKey": "Download the SM2 push key",

  "suppressions.addCondition": "Add condition",
  "suppressions.removeCondition": "Remove this condition",
  "suppressions.conditionsHelp": "Suppresses only when every condition holds (at most {max}); with none, every alert of the rule",
  "suppressions.and": "and",

  "cases.setOwner": "Set owner",
  "cases.ownerHelp": "Account name; empty for nobody",
  "cases.upload": "Upload attachment",
  "cases.uploaded": "Uploaded {name}",
  "cases.tooLarge": "{name} is over the {max} MiB attachment limit",
  "cases.download": "Download",
  "cases.fileName": "File",
  "cases.mediaType": "Type",
  "cases.size": "Size (bytes)",
  "cases.noAttachments": "No attachments",

  "alerts.receipt": "Record a receipt",
  "alerts.receiptChannel": "Channel the receipt came from",

  "list.more": "Load more",
  "suppressions.suppressed": "Suppressed alerts",
  "suppressions.suppressedIntro": "These alerts are stored and counted, but a suppression covers them: they stay out of the queue and are not notified.",
  "suppressions.coveredBy": "Covered by",
  "suppressions.subject": "Subject (user · asset · IP)",
  "suppressions.noneSuppressed": "No suppressed alerts",
};
