// The wire form of phases, shared by GET /api/phases and `perfring-server analyze --json`.

public enum PhaseJSON {
    /// `{"scope":..., "pmu":..., "min_phase_s":..., "phases":[...]}`; `extra` adds top-level
    /// fields first (the API's generation).
    public static func write(_ reports: [PhaseReport], tracker: PhaseTracker, into w: inout JSONWriter,
                             extra: ((inout JSONWriter) -> Void)? = nil) {
        w.beginObject()
        extra?(&w)
        w.key("scope"); w.string(tracker.extractor.scope.rawValue)
        w.key("features"); w.beginArray(); for f in tracker.extractor.features { w.string(f.figure.key) }; w.endArray()
        w.key("min_phase_s"); w.number(Double(tracker.minPhaseNs) / 1e9)
        w.key("phases"); w.beginArray()
        for r in reports { phase(r, into: &w) }
        w.endArray()
        w.endObject()
    }

    static func phase(_ r: PhaseReport, into w: inout JSONWriter) {
        w.beginObject()
        w.key("id"); w.int(r.id)
        w.key("open"); w.bool(r.open)
        w.key("stable"); w.bool(r.stable)
        w.key("start"); w.beginObject(); w.key("seq"); w.uint(r.startSeq); w.key("time_ms"); w.number(r.startMs); w.endObject()
        w.key("end"); w.beginObject(); w.key("seq"); w.uint(r.endSeq); w.key("time_ms"); w.number(r.endMs); w.endObject()
        w.key("seconds"); w.number(r.seconds)
        w.key("samples"); w.int(r.samples)
        w.key("detected_seq"); if let d = r.detectedSeq { w.uint(d) } else { w.null() }
        let c = r.classification
        w.key("class"); w.string(c.phaseClass.rawValue)
        w.key("confidence"); w.number((c.confidence * 100).rounded() / 100)
        w.key("note"); if let n = c.note { w.string(n) } else { w.null() }
        w.key("summary"); w.beginObject()
        for f in Figure.allCases where r.summary[f].isFinite { w.key(f.key); w.number(r.summary[f]) }
        w.endObject()
        w.key("evidence"); w.beginArray()
        for e in c.evidence {
            w.beginObject()
            w.key("figure"); w.string(e.figure.key)
            w.key("value"); w.number(e.value)
            w.key("relation"); w.string(e.relation)
            w.key("threshold"); w.number(e.threshold)
            w.key("unit"); w.string(e.figure.unit)
            w.key("basis"); w.string(e.basis)
            w.endObject()
        }
        w.endArray()
        let rec = r.recommendation
        w.key("recommendation"); w.beginObject()
        w.key("actions"); w.beginArray(); for a in rec.actions { w.string(a) }; w.endArray()
        w.key("speedup_bound")
        if let b = rec.bound {
            w.beginObject()
            w.key("value"); w.number(b.value)
            w.key("kind"); w.string("upper bound")
            w.key("formula"); w.string(SpeedupBound.formula)
            w.key("f"); w.number(b.phaseShare)
            w.key("w"); w.number(b.removableShare)
            w.key("derivation"); w.string(b.derivation)
            w.endObject()
        } else {
            w.null()
        }
        w.key("no_bound"); if let n = rec.noBound { w.string(n) } else { w.null() }
        w.endObject()
        w.endObject()
    }

    /// A sample's `"phase": {"id": n, "class": "..."}` (or null).
    public static func sampleField(_ label: (id: Int, phaseClass: PhaseClass)?, into w: inout JSONWriter) {
        w.key(rendered: phaseKey)
        guard let label else { w.null(); return }
        w.beginObject()
        w.key(rendered: idKey); w.int(label.id)
        w.key(rendered: classKey); w.string(label.phaseClass.rawValue)
        w.endObject()
    }
    // Rendered once: every sample of /api/data carries them.
    private static let phaseKey = JSONWriter.render(key: "phase")
    private static let idKey = JSONWriter.render(key: "id")
    private static let classKey = JSONWriter.render(key: "class")
}
