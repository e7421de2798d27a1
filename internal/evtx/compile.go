package evtx

import "encoding/binary"

// Records of a chunk instantiate the same few templates over and over. A
// template used a second time in a chunk is compiled: its tokens are
// decoded once, names resolved and checks done, into a list of operations
// that later instances replay. The result is the same tree as walking the
// tokens (tests check this); a definition that cannot be compiled (it is
// malformed, or holds a template instance) is always walked.

// compileTemplates can be turned off by tests, to compare both paths.
var compileTemplates = true

// Operations of a compiled template.
const (
	opElem = iota + 1
	opAttr
	opCloseStart
	opEnd
	opValue
	opEntity
	opPI
	opPIData
	opSubst
)

// op is one operation of a compiled template; like node, it holds no
// pointers.
type op struct {
	code  uint8
	vtype byte
	name  int32 // opElem, opAttr, opEntity, opPI; the id for opSubst
	doff  int32 // opValue, opPIData: p.buf[doff : doff+dlen]
	dlen  int32
}

// compile compiles the definition def, appending its operations to p.ops.
// It reports false when the definition must be walked token by token
// instead.
func (p *parser) compile(def *tmplDef) bool {
	b := p.buf
	le := binary.LittleEndian
	start := len(p.ops)
	fail := func() bool {
		p.ops = p.ops[:start]
		def.noCompile = true
		return false
	}
	ok := true
	emit := func(o op) {
		// Names that are not interned have ids valid for one record only.
		if o.code != opSubst && o.name < 0 {
			ok = false
		}
		p.ops = append(p.ops, o)
	}
	depth, ntoks := 0, 0
	inStart := false
	pos, end := def.start, def.end
	for pos < end {
		ntoks++
		tok := b[pos]
		switch tok &^ tokMoreBit {
		case tokEOF:
			pos = end
			continue
		case tokOpenStart:
			if pos+11 > end {
				return fail()
			}
			name, np, err := p.nameRef(pos+7, end)
			if err != nil {
				return fail()
			}
			pos = np
			if tok&tokMoreBit != 0 {
				pos += 4
			}
			if pos > end || depth >= maxElemNest {
				return fail()
			}
			emit(op{code: opElem, name: name})
			depth++
			inStart = true
		case tokAttribute:
			if !inStart {
				return fail()
			}
			name, np, err := p.nameRef(pos+1, end)
			if err != nil {
				return fail()
			}
			pos = np
			emit(op{code: opAttr, name: name})
		case tokCloseStart:
			if !inStart {
				return fail()
			}
			inStart = false
			emit(op{code: opCloseStart})
			pos++
		case tokCloseEmpty, tokEnd:
			if depth == 0 {
				return fail()
			}
			depth--
			inStart = false
			emit(op{code: opEnd})
			pos++
		case tokValue, tokCDATA:
			vt, at := byte(vString), pos+1
			if tok&^tokMoreBit == tokValue {
				if pos+2 > end {
					return fail()
				}
				vt, at = b[pos+1], pos+2
			}
			data, np, err := p.inlineValue(vt, at, end)
			if err != nil {
				return fail()
			}
			pos = np
			emit(op{code: opValue, vtype: vt, doff: int32(subOffset(p.buf, data)), dlen: int32(len(data))})
		case tokCharRef:
			if pos+3 > end {
				return fail()
			}
			emit(op{code: opValue, vtype: vCharRef, doff: int32(pos + 1), dlen: 2})
			pos += 3
		case tokEntityRef, tokPITarget:
			name, np, err := p.nameRef(pos+1, end)
			if err != nil {
				return fail()
			}
			code := uint8(opEntity)
			if tok&^tokMoreBit == tokPITarget {
				code = opPI
			}
			emit(op{code: code, name: name})
			pos = np
		case tokPIData:
			data, np, err := p.inlineValue(vString, pos+1, end)
			if err != nil {
				return fail()
			}
			pos = np
			emit(op{code: opPIData, doff: int32(subOffset(p.buf, data)), dlen: int32(len(data))})
		case tokNormalSubst, tokOptionalSubst:
			if pos+4 > end {
				return fail()
			}
			emit(op{code: opSubst, name: int32(le.Uint16(b[pos+1:]))})
			pos += 4
		case tokFragment:
			pos += 4
		default: // template instances and invalid tokens
			return fail()
		}
	}
	if !ok {
		return fail()
	}
	def.ops = [2]int{start, len(p.ops)}
	def.ntoks = ntoks
	return true
}

// run replays a compiled template, as tokens would walk it.
func (p *parser) run(def *tmplDef, cur, attr int32, sbase, nsubs int) error {
	// Nested BinXML values can add definitions and move p.defs: take
	// what is needed from def now.
	lo, hi := def.ops[0], def.ops[1]
	p.toks += def.ntoks
	if p.toks > maxTokens {
		return errRecordTooComplex
	}
	base := len(p.stack)
	defer func() { p.stack = p.stack[:base] }()
	for i := lo; i < hi; i++ {
		o := &p.ops[i]
		switch o.code {
		case opElem:
			e, err := p.newNode(kElem, 0, o.name)
			if err != nil {
				return err
			}
			p.appendChild(cur, e)
			p.stack = append(p.stack, cur)
			cur = e
			attr = 0
		case opAttr:
			a, err := p.newNode(kAttr, 0, o.name)
			if err != nil {
				return err
			}
			p.appendAttr(cur, a)
			attr = a
		case opCloseStart:
			attr = 0
		case opEnd:
			cur = p.stack[len(p.stack)-1]
			p.stack = p.stack[:len(p.stack)-1]
			attr = 0
		case opValue:
			if err := p.addValue(cur, attr, o.vtype, p.buf[o.doff:o.doff+o.dlen]); err != nil {
				return err
			}
		case opEntity:
			v, err := p.newNode(kVal, vEntityRef, o.name)
			if err != nil {
				return err
			}
			if attr != 0 {
				p.appendChild(attr, v)
			} else {
				p.appendChild(cur, v)
			}
		case opPI:
			v, err := p.newNode(kPI, 0, o.name)
			if err != nil {
				return err
			}
			p.appendChild(cur, v)
		case opPIData:
			if l := p.nodes[cur].last; l != 0 && p.nodes[l].kind == kPI {
				p.nodes[l].doff, p.nodes[l].dlen = o.doff, o.dlen
			}
		case opSubst:
			if err := p.substitute(cur, attr, sbase, nsubs, int(o.name)); err != nil {
				return err
			}
		}
	}
	return nil
}
